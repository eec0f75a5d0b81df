#!/usr/bin/env python3
"""Writes the same stolen-password takeover in every format: testdata/formats/<format>/takeover.*

Dr Martin (cabinet-rouen) signs in ten times over two weeks, at working hours, from her Orange
broadband in Rouen (90.1.x.x) with Chrome on Windows. On Monday 17 November 2025 at 02:30 Paris
time (01:30Z) a correct password arrives on the first try from DigitalOcean Amsterdam
(188.166.x.x) with Firefox on Linux, and (where the format can say it) 500 patient records are
exported three minutes later. Run from the repository root: python3 testdata/formats/takeover.py
"""
import json, uuid, os

ACCOUNT = "dr.martin@cabinet-rouen.fr"
TENANT = "cabinet-rouen"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/130.0.0.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
# (UTC time, ip, session): 08:00-18:00 Paris is 07:00-17:00Z in November.
LOGINS = [
    ("2025-11-03T07:42:11Z", "90.1.37.12", "s-1f4a90c2"),
    ("2025-11-03T13:05:47Z", "90.1.37.12", "s-2b71de05"),
    ("2025-11-04T07:51:30Z", "90.1.37.12", "s-3c0e5a17"),
    ("2025-11-05T08:03:02Z", "90.1.37.12", "s-4d9b2f88"),
    ("2025-11-06T12:47:55Z", "90.1.122.7", "s-5e36c4a1"),
    ("2025-11-07T07:39:18Z", "90.1.122.7", "s-6fa81b3d"),
    ("2025-11-10T07:45:40Z", "90.1.122.7", "s-70c2e9f4"),
    ("2025-11-11T13:12:09Z", "90.1.122.7", "s-81d7a6c0"),
    ("2025-11-12T07:58:51Z", "90.1.122.7", "s-92e04b7e"),
    ("2025-11-14T16:20:33Z", "90.1.122.7", "s-a3f15c29"),
]
ATTACK = ("2025-11-17T01:30:04Z", "188.166.24.201", "s-b40c7d11")
EXPORT_TS = "2025-11-17T01:33:40Z"
EXPORT_COUNT = 500

def ms(ts):
    from datetime import datetime, timezone
    return int(datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() * 1000)

def ev_id(i):
    return f"evt-{i:04d}"

def logins():
    for i, (ts, ip, session) in enumerate(LOGINS + [ATTACK]):
        ua = FIREFOX if (ts, ip, session) == ATTACK else CHROME
        yield i, ts, ip, session, ua

def uid(kind, i):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tocsin-takeover/{kind}/{i}"))

def write_lines(path, objs):
    with open(path, "w") as f:
        for o in objs:
            f.write(json.dumps(o, separators=(",", ":")) + "\n")

def write_doc(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

def native():
    out = []
    for i, ts, ip, session, ua in logins():
        out.append({"ts": ts, "type": "login", "id": ev_id(i), "outcome": "success", "account": ACCOUNT,
                    "tenant": TENANT, "session": session, "ip": ip, "user_agent": ua, "method": "password"})
    ts, ip, session = ATTACK
    out.append({"ts": EXPORT_TS, "type": "access", "id": ev_id(11), "account": ACCOUNT, "tenant": TENANT,
                "session": session, "ip": ip, "user_agent": FIREFOX, "action": "export",
                "resource": "patient_record", "count": EXPORT_COUNT})
    write_lines("testdata/formats/native/takeover.jsonl", out)

def ocsf_meta(i, ts):
    return {"version": "1.3.0", "uid": ev_id(i), "tenant_uid": TENANT, "logged_time": ms(ts) + 412,
            "product": {"name": "MedDossier", "vendor_name": "MedDossier SAS", "version": "4.12.0"}}

def ocsf():
    out = []
    for i, ts, ip, session, ua in logins():
        out.append({
            "class_uid": 3002, "class_name": "Authentication", "category_uid": 3,
            "category_name": "Identity & Access Management", "activity_id": 1, "activity_name": "Logon",
            "type_uid": 300201, "type_name": "Authentication: Logon", "severity_id": 1,
            "severity": "Informational", "status_id": 1, "status": "Success", "time": ms(ts),
            "metadata": ocsf_meta(i, ts),
            "user": {"name": ACCOUNT, "email_addr": ACCOUNT, "uid": "u-20931", "type_id": 1, "type": "User"},
            "src_endpoint": {"ip": ip}, "http_request": {"user_agent": ua, "http_method": "POST",
            "url": {"hostname": "app.meddossier.fr", "path": "/login", "scheme": "https"}},
            "session": {"uid": session, "created_time": ms(ts)},
            "service": {"name": "meddossier-web"}, "auth_protocol_id": 99, "auth_protocol": "password",
            "is_mfa": False, "is_remote": True, "logon_type_id": 3, "logon_type": "Network",
        })
    ts, ip, session = ATTACK
    out.append({
        "class_uid": 6003, "class_name": "API Activity", "category_uid": 6,
        "category_name": "Application Activity", "activity_id": 2, "activity_name": "Read",
        "type_uid": 600302, "type_name": "API Activity: Read", "severity_id": 1, "severity": "Informational",
        "status_id": 1, "status": "Success", "time": ms(EXPORT_TS), "metadata": ocsf_meta(11, EXPORT_TS),
        "actor": {"user": {"name": ACCOUNT, "uid": "u-20931"}, "session": {"uid": session}},
        "api": {"operation": "ExportPatientRecords", "service": {"name": "records"},
                "request": {"uid": "req-7d1e"}},
        "src_endpoint": {"ip": ip}, "http_request": {"user_agent": FIREFOX, "http_method": "POST"},
        "resources": [{"type": "patient_record", "name": "patients", "uid": "export-2025-11-17-0133"}],
        "unmapped": {"count": EXPORT_COUNT},
    })
    write_lines("testdata/formats/ocsf/takeover.jsonl", out)

def ecs():
    out = []
    for i, ts, ip, session, ua in logins():
        is_attack = (ts, ip, session) == ATTACK
        geo = ({"country_iso_code": "NL", "city_name": "Amsterdam"} if is_attack
               else {"country_iso_code": "FR", "city_name": "Rouen"})
        asn = ({"number": 14061, "organization": {"name": "DigitalOcean, LLC"}} if is_attack
               else {"number": 3215, "organization": {"name": "Orange"}})
        out.append({
            "@timestamp": ts, "ecs": {"version": "8.11.0"},
            "event": {"id": ev_id(i), "kind": "event", "category": ["authentication"], "type": ["start"],
                      "action": "user-login", "outcome": "success", "dataset": "meddossier.auth",
                      "module": "meddossier"},
            "user": {"name": ACCOUNT, "email": ACCOUNT, "id": "u-20931"},
            "source": {"ip": ip, "geo": geo, "as": asn},
            "user_agent": {"original": ua},
            "session": {"id": session},
            "organization": {"id": TENANT, "name": "Cabinet médical de Rouen"},
            "service": {"name": "meddossier-web"},
        })
    ts, ip, session = ATTACK
    out.append({
        "@timestamp": EXPORT_TS, "ecs": {"version": "8.11.0"},
        "event": {"id": ev_id(11), "kind": "event", "category": ["database"], "type": ["access"],
                  "action": "patient-records-export", "outcome": "success", "dataset": "meddossier.audit"},
        "user": {"name": ACCOUNT, "id": "u-20931"}, "source": {"ip": ip},
        "user_agent": {"original": FIREFOX}, "session": {"id": session},
        "organization": {"id": TENANT}, "labels": {"record_count": str(EXPORT_COUNT), "resource": "patient_record"},
    })
    write_lines("testdata/formats/ecs/takeover.jsonl", out)

def okta():
    out = []
    for i, ts, ip, session, ua in logins():
        is_attack = (ts, ip, session) == ATTACK
        out.append({
            "actor": {"id": "00u1a2b3c4d5e6f7g8h9", "type": "User", "alternateId": ACCOUNT,
                      "displayName": "Claire Martin", "detailEntry": None},
            "client": {"userAgent": {"rawUserAgent": ua, "os": "Linux" if is_attack else "Windows 10",
                                     "browser": "FIREFOX" if is_attack else "CHROME"},
                       "zone": "null", "device": "Computer", "id": None, "ipAddress": ip,
                       "geographicalContext": ({"city": "Amsterdam", "state": "North Holland", "country": "Netherlands",
                                                "postalCode": "1012", "geolocation": {"lat": 52.3676, "lon": 4.9041}}
                                               if is_attack else
                                               {"city": "Rouen", "state": "Normandy", "country": "France",
                                                "postalCode": "76000", "geolocation": {"lat": 49.4431, "lon": 1.0993}})},
            "device": None,
            "authenticationContext": {"authenticationProvider": None, "credentialProvider": None,
                                      "credentialType": "PASSWORD", "issuer": None, "interface": None,
                                      "authenticationStep": 0, "externalSessionId": f"102{uid('okta-session', i)[:22].replace('-', '')}"},
            "displayMessage": "User login to Okta", "eventType": "user.session.start",
            "outcome": {"result": "SUCCESS", "reason": None}, "published": ts.replace("Z", ".000Z"),
            "securityContext": ({"asNumber": 14061, "asOrg": "digitalocean", "isp": "digitalocean llc",
                                 "domain": "digitalocean.com", "isProxy": False} if is_attack else
                                {"asNumber": 3215, "asOrg": "orange", "isp": "orange s.a.",
                                 "domain": "orange.fr", "isProxy": False}),
            "severity": "INFO",
            "debugContext": {"debugData": {"requestId": uid("okta-req", i).replace("-", "")[:24],
                                           "requestUri": "/idp/idx/identify", "url": "/idp/idx/identify?"}},
            "legacyEventType": "core.user_auth.login_success",
            "transaction": {"type": "WEB", "id": uid("okta-tx", i).replace("-", "")[:24], "detail": {}},
            "uuid": uid("okta", i), "version": "0",
            "request": {"ipChain": [{"ip": ip, "geographicalContext": None, "version": "V4", "source": None}]},
            "target": [{"id": "pfd1a2b3c4d5e6f7", "type": "AuthenticatorEnrollment", "alternateId": "unknown",
                        "displayName": "Password", "detailEntry": None}],
        })
    write_doc("testdata/formats/okta/takeover.json", out)

ENTRA_TENANT = "4f0c8a1e-6b2d-4e7f-9a3c-2d1b0e5f7a68"

def entra():
    out = []
    for i, ts, ip, session, ua in logins():
        is_attack = (ts, ip, session) == ATTACK
        out.append({
            "id": uid("entra", i), "createdDateTime": ts, "userDisplayName": "Claire Martin",
            "userPrincipalName": ACCOUNT, "userId": "7b3e2c91-5d4a-4f68-8e1b-0c9a7d6f5e43",
            "appId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "appDisplayName": "MedDossier",
            "ipAddress": ip, "clientAppUsed": "Browser", "userAgent": ua,
            "correlationId": uid("entra-corr", i), "sessionId": uid("entra-session", i),
            "conditionalAccessStatus": "notApplied", "isInteractive": True,
            "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none",
            "riskState": "none", "riskEventTypes_v2": [], "resourceDisplayName": "MedDossier",
            "resourceId": "00000003-0000-0000-c000-000000000000", "tenantId": ENTRA_TENANT,
            "authenticationRequirement": "singleFactorAuthentication",
            "authenticationDetails": [{"authenticationStepDateTime": ts, "authenticationMethod": "Password",
                                       "authenticationMethodDetail": "Password in the cloud", "succeeded": True,
                                       "authenticationStepResultDetail": "Correct password",
                                       "authenticationStepRequirement": "Primary authentication"}],
            "status": {"errorCode": 0, "failureReason": "Other.", "additionalDetails": None},
            "deviceDetail": {"deviceId": "", "displayName": "", "operatingSystem": "Linux" if is_attack else "Windows10",
                             "browser": "Firefox 132.0" if is_attack else "Chrome 130.0.0", "isCompliant": False,
                             "isManaged": False, "trustType": ""},
            "location": ({"city": "Amsterdam", "state": "Noord-Holland", "countryOrRegion": "NL",
                          "geoCoordinates": {"altitude": None, "latitude": 52.3676, "longitude": 4.9041}}
                         if is_attack else
                         {"city": "Rouen", "state": "Normandie", "countryOrRegion": "FR",
                          "geoCoordinates": {"altitude": None, "latitude": 49.4431, "longitude": 1.0993}}),
            "appliedConditionalAccessPolicies": [],
        })
    write_doc("testdata/formats/entra/takeover.json", {
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns", "value": out})

def cloudtrail():
    out = []
    for i, ts, ip, session, ua in logins():
        out.append({
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDA4XAMPLE7MARTIN01",
                             "arn": f"arn:aws:iam::512345678901:user/{ACCOUNT}",
                             "accountId": "512345678901", "userName": ACCOUNT},
            "eventTime": ts, "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
            "awsRegion": "eu-west-3", "sourceIPAddress": ip, "userAgent": ua,
            "requestParameters": None, "responseElements": {"ConsoleLogin": "Success"},
            "additionalEventData": {"LoginTo": "https://eu-west-3.console.aws.amazon.com/console/home?region=eu-west-3",
                                    "MobileVersion": "No", "MFAUsed": "No"},
            "eventID": uid("cloudtrail", i), "readOnly": False, "eventType": "AwsConsoleSignIn",
            "managementEvent": True, "recipientAccountId": "512345678901", "eventCategory": "Management",
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                           "clientProvidedHostHeader": "eu-west-3.signin.aws.amazon.com"},
        })
    write_doc("testdata/formats/cloudtrail/takeover.json", {"Records": out})

def auth0():
    # A custom-webhook log stream in JSON-lines format: each entry {"log_id", "data"}. Each login
    # is followed by the code exchange and, once, a silent authentication, which are no sign-ins.
    out = []
    for i, ts, ip, session, ua in logins():
        log_id = f"900200{i:02d}0000000000000000000000000000000000{i:02d}"
        data = {"date": ts.replace("Z", ".000Z"), "type": "s", "description": "Successful login",
                "connection": "Username-Password-Authentication", "connection_id": "con_Ab12Cd34Ef56Gh78",
                "client_id": "kbN2cE5yJ0qL8vT4rW7xZ1aD3fG6hK9m", "client_name": "MedDossier",
                "ip": ip, "user_agent": ua, "details": {"prompts": [], "initiatedAt": ms(ts) - 2100,
                "completedAt": ms(ts), "elapsedTime": 2100, "session_id": f"sess_{uid('auth0-session', i)[:20]}"},
                "hostname": "meddossier.eu.auth0.com", "user_id": "auth0|6543a1b2c3d4e5f6a7b8c9d0",
                "user_name": ACCOUNT, "strategy": "auth0", "strategy_type": "database",
                "log_id": log_id, "isMobile": False}
        out.append({"log_id": log_id, "data": data})
        exch = dict(data, type="seacft", description="Authorization Code for Access Token",
                    log_id=log_id[:-2] + "99")
        out.append({"log_id": exch["log_id"], "data": exch})
        if i == 3:
            ssa = dict(data, type="ssa", description="Successful silent authentication",
                       date=ts.replace("Z", ".500Z"), log_id=log_id[:-2] + "98")
            out.append({"log_id": ssa["log_id"], "data": ssa})
    write_lines("testdata/formats/auth0/takeover.jsonl", out)

GOOGLE_CUSTOMER = "C03az79cb"

def google_workspace():
    # A Reports API page (activities.list, applicationName=login). The attacker's sign-in is
    # also flagged by Google as suspicious_login, an event of the same activity.
    items = []
    for i, ts, ip, session, ua in logins():
        is_attack = (ts, ip, session) == ATTACK
        events = [{"type": "login", "name": "login_success", "parameters": [
            {"name": "login_type", "value": "google_password"},
            {"name": "login_challenge_method", "multiValue": ["password"]},
            {"name": "is_suspicious", "boolValue": is_attack}]}]
        if is_attack:
            events.append({"type": "login", "name": "suspicious_login", "parameters": [
                {"name": "login_type", "value": "google_password"}]})
        items.append({"kind": "admin#reports#activity", "etag": f"\"{uid('google-etag', i)}\"",
                      "id": {"time": ts.replace("Z", ".000Z"), "uniqueQualifier": str(-(3000000000000000000 + i)),
                             "applicationName": "login", "customerId": GOOGLE_CUSTOMER},
                      "actor": {"email": ACCOUNT, "profileId": "114511147312345678901"},
                      "ipAddress": ip, "events": events})
    write_doc("testdata/formats/google_workspace/takeover.json",
              {"kind": "admin#reports#activities", "etag": "\"takeover\"", "items": items})

def keycloak():
    # Events as the admin REST API returns them (a JSON array). Every login is followed by the
    # code exchange of the same session (not applicable). The realm is the tenant; the account
    # is Keycloak's user id, a UUID.
    out = []
    for i, ts, ip, session, ua in logins():
        base = {"time": ms(ts), "realmId": TENANT, "clientId": "meddossier-web",
                "userId": "f3b2a1c0-9d8e-4f7a-b6c5-d4e3f2a1b0c9", "sessionId": session, "ipAddress": ip}
        out.append(dict(base, id=ev_id(i), type="LOGIN",
                        details={"auth_method": "openid-connect", "auth_type": "code",
                                 "redirect_uri": "https://app.meddossier.fr/callback",
                                 "consent": "no_consent_required", "code_id": session, "username": ACCOUNT}))
        out.append(dict(base, id=uid("keycloak-code", i), type="CODE_TO_TOKEN", time=ms(ts) + 180,
                        details={"token_id": uid("keycloak-token", i), "grant_type": "authorization_code",
                                 "refresh_token_type": "Refresh", "scope": "openid profile email",
                                 "refresh_token_id": uid("keycloak-refresh", i), "code_id": session,
                                 "client_auth_method": "client-secret"}))
    write_doc("testdata/formats/keycloak/takeover.json", out)

if __name__ == "__main__":
    native(); ocsf(); ecs(); okta(); entra(); cloudtrail(); auth0(); google_workspace(); keycloak()
