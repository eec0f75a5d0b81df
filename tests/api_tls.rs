//! The API over in-process TLS (`[api] tls_cert` / `tls_key`), with a self-signed certificate
//! made at test time: `/healthz` and an authenticated `/v1` route over HTTPS for a client that
//! trusts the certificate; nothing for a plain-HTTP client or one that does not trust it;
//! graceful shutdown; unusable TLS files refused at load naming the key and the file; and
//! `tocsin run` serving HTTPS from its configuration.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tocsin::alert::{Alert, Verdict};
use tocsin::api::tls::TlsConfigErrorKind;
use tocsin::api::{self, ApiState, Baselines, TlsConfig, Tokens};
use tocsin::baseline::store::{AccountView, FeedbackError};
use tocsin::metrics::Metrics;
use tocsin::respond::{Responder, ResponderSettings};
use tocsin::settings::{Role, Settings};

const READER: &str = "reader-token-tls-51c0";

struct NoBaselines;

impl Baselines for NoBaselines {
    fn account_view(&self, account: &str) -> Option<AccountView> {
        Some(AccountView {
            account: account.into(),
            ..AccountView::default()
        })
    }
    fn feedback(&self, _: &Alert, _: Verdict) -> Result<(), FeedbackError> {
        Ok(())
    }
    fn credential_leaked(&self, _: &str, _: i64) -> bool {
        false
    }
}

/// A self-signed certificate for `localhost`, written as PEM files into `dir`.
struct TestCert {
    cert_pem: String,
    key_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

fn make_cert(dir: &Path, name: &str) -> TestCert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.pem(), signing_key.serialize_pem());
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    TestCert {
        cert_pem,
        key_pem,
        cert,
        key,
    }
}

/// A client that trusts only `cert` and reaches `localhost` at `addr`.
fn trusting_client(cert: &TestCert, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert_pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

struct Server {
    addr: SocketAddr,
    cert: TestCert,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start_tls() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), "api");
    let tls = TlsConfig::from_pem_files(&cert.cert, &cert.key).unwrap();
    let settings = Settings::parse(
        &format!("[state]\ndir = {:?}\n", dir.path().join("state")),
        "t.toml",
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut responder_stopped = stopped.clone();
    let responder = Responder::start(
        ResponderSettings::of(&settings),
        Arc::new(Metrics::new()),
        async move {
            let _ = responder_stopped.wait_for(|&s| s).await;
        },
    )
    .unwrap();
    let tokens = Tokens::default().with_token("soc", Role::Reader, READER);
    let state = ApiState::new(responder, Arc::new(NoBaselines), tokens);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut api_stopped = stopped;
    let task = tokio::spawn(api::serve_tls(listener, state, tls, async move {
        let _ = api_stopped.wait_for(|&s| s).await;
    }));
    Server {
        addr,
        cert,
        stop,
        task,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_health_and_authenticated_v1_to_a_client_that_trusts_the_certificate() {
    let s = start_tls().await;
    let http = trusting_client(&s.cert, s.addr);
    let base = format!("https://localhost:{}", s.addr.port());

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let check = format!("{base}/v1/revocations/check?account=dr.martin@cabinet-rouen&session=s-1");
    let ok = http.get(&check).bearer_auth(READER).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["revoked"], json!(false), "{body}");

    // Authentication is the same over TLS: no token, a wrong one, the wrong role.
    let none = http.get(&check).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = http.get(&check).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let revoke = http
        .post(format!("{base}/v1/revocations"))
        .bearer_auth(READER)
        .json(&json!({"account": "a", "session": "s", "scope": "session", "reason": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port_gets_no_api_answer() {
    let s = start_tls().await;
    let addr = s.addr;
    let raw = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        // The server closes the connection (possibly after a TLS alert); a reset is fine too.
        let _ = tcp.read_to_end(&mut got);
        got
    })
    .await
    .unwrap();
    assert!(
        !raw.starts_with(b"HTTP/") && !String::from_utf8_lossy(&raw).contains("ok"),
        "plain HTTP got an answer: {:?}",
        String::from_utf8_lossy(&raw)
    );
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP client got {plain:?}");

    // The server is unharmed: a TLS client is served right after.
    let http = trusting_client(&s.cert, s.addr);
    let health = http
        .get(format!("https://localhost:{}/healthz", s.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let s = start_tls().await;
    let url = format!("https://localhost:{}/healthz", s.addr.port());
    // Public roots only.
    let default = reqwest::Client::builder()
        .resolve("localhost", s.addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = default.get(&url).send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // Trusting another self-signed certificate does not help.
    let other = make_cert(s._dir.path(), "other");
    let err = trusting_client(&other, s.addr)
        .get(&url)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // The right trust anchor works against the same server.
    let ok = trusting_client(&s.cert, s.addr)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_stops_the_tls_listener() {
    let s = start_tls().await;
    let http = trusting_client(&s.cert, s.addr);
    let url = format!("https://localhost:{}/healthz", s.addr.port());
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    s.stop.send(true).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(5), s.task)
        .await
        .expect("the TLS API did not stop within 5 s of the shutdown signal")
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
    let fresh = trusting_client(&s.cert, s.addr);
    assert!(
        fresh.get(&url).send().await.is_err(),
        "served after shutdown"
    );
}

#[test]
fn unusable_tls_files_are_refused_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = make_cert(dir.path(), "good");
    let other = make_cert(dir.path(), "other");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let missing = dir.path().join("missing.pem");
    let garbage = write(
        "garbage.pem",
        "this is not a certificate, it is zx81-garbage\n",
    );
    // Looks like a key, is not one: its "content" must not be echoed.
    let bad_base64 = write(
        "bad-base64.key",
        "-----BEGIN PRIVATE KEY-----\nsecr3t!!key*material\n-----END PRIVATE KEY-----\n",
    );
    let unterminated = write(
        "unterminated.key",
        "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFF\n",
    );
    let not_a_key = write(
        "not-a-key.key",
        "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n-----END PRIVATE KEY-----\n",
    );

    let cases: Vec<(&Path, &Path, &str, &Path, &str)> = vec![
        (&missing, &good.key, "tls_cert", &missing, "cannot read"),
        (&good.cert, &missing, "tls_key", &missing, "cannot read"),
        (&garbage, &good.key, "tls_cert", &garbage, "no certificate"),
        (&good.cert, &garbage, "tls_key", &garbage, "no private key"),
        (
            &good.cert,
            &bad_base64,
            "tls_key",
            &bad_base64,
            "not valid PEM",
        ),
        (
            &good.cert,
            &unterminated,
            "tls_key",
            &unterminated,
            "not valid PEM",
        ),
        (&good.cert, &not_a_key, "tls_key", &not_a_key, "refused"),
        // A real key, but not the certificate's.
        (&good.cert, &other.key, "tls_key", &other.key, "refused"),
        // Key and certificate swapped.
        (
            &good.key,
            &good.cert,
            "tls_cert",
            &good.key,
            "no certificate",
        ),
    ];
    for (cert, key, named_key, named_file, reason) in cases {
        let err = TlsConfig::from_pem_files(cert, key).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.key, named_key, "{msg}");
        assert!(
            msg.starts_with(&format!("api.{named_key}: {}: ", named_file.display())),
            "{msg}"
        );
        assert!(msg.contains(reason), "{msg}");
        for secret in ["secr3t", "zx81", "TUlJRXZR", "AAECAwQF"] {
            assert!(!msg.contains(secret), "{msg}");
        }
        for pem in [&good.key_pem, &other.key_pem] {
            let body_line = pem.lines().nth(1).unwrap();
            assert!(!msg.contains(body_line), "key material in {msg}");
        }
    }
    let err = TlsConfig::from_pem_files(&good.cert, &other.key).unwrap_err();
    assert!(
        matches!(&err.kind, TlsConfigErrorKind::Refused { cert, .. } if cert == &good.cert),
        "{err}"
    );
    assert!(TlsConfig::from_pem_files(&good.cert, &good.key).is_ok());

    // One of the two keys alone is refused when the configuration is loaded.
    for (text, named) in [
        (
            format!("[api]\ntls_cert = {:?}\n", good.cert),
            "api.tls_key",
        ),
        (format!("[api]\ntls_key = {:?}\n", good.key), "api.tls_cert"),
    ] {
        let err = Settings::parse(&text, "tocsin.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("tocsin.toml: ") && err.contains(named),
            "{err}"
        );
    }
    let plain = Settings::parse("", "t.toml").unwrap();
    assert!(TlsConfig::from_settings(&plain.api).unwrap().is_none());
}

/// A `tocsin run` configuration with the API on an ephemeral port and a broker that is not
/// there (the API is served while the source retries).
fn run_config(dir: &Path, tls: &str) -> PathBuf {
    let path = dir.join("tocsin.toml");
    std::fs::write(
        &path,
        format!(
            "[rules]\ndir = {:?}\n[state]\ndir = {:?}\n\
             [source.kafka]\nbrokers = \"127.0.0.1:9\"\ntopics = [\"auth-events\"]\n\
             [api]\nlisten = \"127.0.0.1:0\"\n{tls}\
             [[api.tokens]]\nname = \"soc\"\nrole = \"reader\"\ntoken_env = \"TOCSIN_TLS_TEST_TOKEN\"\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/rules"),
            dir.join("state")
        ),
    )
    .unwrap();
    path
}

#[test]
fn tocsin_run_refuses_an_unusable_key_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), "api");
    let key = dir.path().join("broken.key");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nnot*base64\n").unwrap();
    let config = run_config(
        dir.path(),
        &format!("tls_cert = {:?}\ntls_key = {:?}\n", cert.cert, key),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["run", "--config"])
        .arg(&config)
        .env("TOCSIN_TLS_TEST_TOKEN", READER)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("api.tls_key: {}: not valid PEM", key.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("not*base64"), "{stderr}");
}

#[test]
fn tocsin_run_serves_the_api_over_https_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), "api");
    let config = run_config(
        dir.path(),
        &format!("tls_cert = {:?}\ntls_key = {:?}\n", cert.cert, cert.key),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["run", "--config"])
        .arg(&config)
        .env("TOCSIN_TLS_TEST_TOKEN", READER)
        .env("TOCSIN_LOG", "error")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    /// Kills the engine even when an assertion fails.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().unwrap();
    let mut engine = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("tocsin run did not say where the API listens");
        if let Some(rest) = line.strip_prefix("api: listening on ") {
            let addr = rest
                .strip_prefix("https://")
                .unwrap_or_else(|| panic!("not HTTPS: {line}"));
            break addr.parse().unwrap();
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = trusting_client(&cert, addr);
        let base = format!("https://localhost:{}", addr.port());
        let health = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let check = http
            .get(format!("{base}/v1/revocations/check?account=a@b&session=s"))
            .bearer_auth(READER)
            .send()
            .await
            .unwrap();
        assert_eq!(check.status(), StatusCode::OK);
        assert!(reqwest::Client::new()
            .get(format!("http://{addr}/healthz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .is_err());
    });
    let _ = engine.0.kill();
    let _ = engine.0.wait();
}
