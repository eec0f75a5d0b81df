//! The `holdout` profile: an Iberian medical-records SaaS — private practices (*consultas*),
//! medical centres, private clinics and hospitals in Spain (the Canaries included, an hour
//! behind the mainland) and Portugal. Written apart from [`super::tune`] from Iberian facts;
//! detection is tuned on `tune` and its figures are reported on this profile, which nobody tunes
//! for.
//!
//! Where the numbers come from (rounded; the point is their shape, not the decimals):
//! - hours: primary care runs a morning turn (08:00–15:00) and an afternoon turn (15:00–21:00);
//!   private practices keep the *jornada partida* (about 09:30–14:00, then 16:30–20:30 after a
//!   long lunch); hospital doctors work 08:00–15:00 and add *guardias* of 17 h on weekdays and
//!   24 h at weekends, four to six a month (more for residents); nurses rotate 7 h mornings,
//!   afternoons and 10 h nights, or 12 h shifts; evenings and dinner are late (21:30–22:00);
//! - records: electronic prescription (*receta electrónica*, Portugal's *Receita Sem Papel*)
//!   is near universal, so prints are rare; searches by national id list more records;
//! - networks: Movistar, Vodafone, Orange and MásMóvil/Yoigo share the Spanish mobile market,
//!   MEO, NOS and Vodafone the Portuguese one; IPv6 is patchy in Spain (DIGI, Vodafone) and
//!   common at MEO; public hospitals on RedIRIS and RCTS; roaming outside the EU is dear, so
//!   travellers to Latin America buy local SIM cards;
//! - devices: StatCounter Spain and Portugal (desktop Chrome about two thirds; iPhone about a
//!   quarter to a third of phones);
//! - life: residential mobility lower than in France; VPN use common at home (not least since
//!   the 2025 football-streaming blocks); holidays and family visits in Mexico, the Caribbean,
//!   Colombia and Argentina, conferences in Vienna, Paris, Berlin, Miami and Lisbon;
//! - public-sector systems must use MFA (Spain's *Esquema Nacional de Seguridad*), so hospitals
//!   mostly enforce it;
//! - attacks: the same criminal markets, with larger dumps and more residential proxies in the
//!   victim's own city.

use super::{
    Attacks, Country, Days, Devices, Habits, Lives, Names, Nets, OnCall, Shift, Spec, Tenants,
    Travel,
};
use crate::gen::agent::Family;
use crate::gen::dist::{lognormal, normal, uniform};

const ES_HOLIDAYS: &[(u32, u32)] = &[
    (1, 1),
    (1, 6),
    (5, 1),
    (8, 15),
    (10, 12),
    (11, 1),
    (12, 6),
    (12, 8),
    (12, 25),
];
const PT_HOLIDAYS: &[(u32, u32)] = &[
    (1, 1),
    (4, 25),
    (5, 1),
    (6, 10),
    (8, 15),
    (10, 5),
    (11, 1),
    (12, 1),
    (12, 8),
    (12, 25),
];

// Settings in shift weights: [consultas and medical centres, clinics, hospitals]; roles:
// doctors, nurses, secretaries.
const SHIFTS: &[Shift] = &[
    Shift {
        name: "manana",
        weight: [[0.45, 0.5, 0.5], [0.3, 0.3, 0.4], [0.0, 0.0, 0.7]],
        blocks: &[(
            normal(480.0, 12.0, 450.0, 520.0),
            normal(420.0, 20.0, 360.0, 470.0),
        )],
        days: Days::Weekdays(0.05),
        night: false,
    },
    Shift {
        name: "tarde",
        weight: [[0.25, 0.3, 0.3], [0.2, 0.2, 0.3], [0.0, 0.0, 0.3]],
        blocks: &[(
            normal(880.0, 20.0, 830.0, 930.0),
            normal(380.0, 20.0, 320.0, 430.0),
        )],
        days: Days::Weekdays(0.0),
        night: false,
    },
    Shift {
        name: "partida",
        weight: [[0.3, 0.2, 0.2], [0.35, 0.1, 0.3], [0.0, 0.0, 0.0]],
        blocks: &[
            (
                normal(575.0, 20.0, 530.0, 630.0),
                normal(265.0, 20.0, 210.0, 310.0),
            ),
            (
                normal(995.0, 20.0, 950.0, 1050.0),
                normal(225.0, 20.0, 170.0, 270.0),
            ),
        ],
        days: Days::Weekdays(0.2),
        night: false,
    },
    Shift {
        name: "hospital_dia",
        weight: [[0.0, 0.0, 0.0], [0.15, 0.0, 0.0], [1.0, 0.0, 0.0]],
        blocks: &[(
            normal(480.0, 10.0, 450.0, 510.0),
            normal(420.0, 20.0, 380.0, 460.0),
        )],
        days: Days::Weekdays(0.0),
        night: false,
    },
    Shift {
        name: "rotatorio_manana",
        weight: [[0.0, 0.0, 0.0], [0.0, 0.15, 0.0], [0.0, 0.22, 0.0]],
        blocks: &[(
            normal(475.0, 8.0, 455.0, 495.0),
            normal(425.0, 10.0, 400.0, 450.0),
        )],
        days: Days::Rota(0.6),
        night: false,
    },
    Shift {
        name: "rotatorio_tarde",
        weight: [[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.2, 0.0]],
        blocks: &[(
            normal(895.0, 8.0, 875.0, 915.0),
            normal(425.0, 10.0, 400.0, 450.0),
        )],
        days: Days::Rota(0.6),
        night: false,
    },
    Shift {
        name: "noche",
        weight: [[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.28, 0.0]],
        blocks: &[(
            normal(1315.0, 8.0, 1290.0, 1340.0),
            normal(600.0, 15.0, 560.0, 640.0),
        )],
        days: Days::Rota(0.4),
        night: true,
    },
    Shift {
        name: "doce_horas_dia",
        weight: [[0.0, 0.0, 0.0], [0.0, 0.05, 0.0], [0.0, 0.15, 0.0]],
        blocks: &[(
            normal(475.0, 8.0, 455.0, 495.0),
            normal(720.0, 15.0, 680.0, 760.0),
        )],
        days: Days::Rota(0.4),
        night: false,
    },
    Shift {
        name: "doce_horas_noche",
        weight: [[0.0, 0.0, 0.0], [0.0, 0.05, 0.0], [0.0, 0.15, 0.0]],
        blocks: &[(
            normal(1195.0, 8.0, 1175.0, 1215.0),
            normal(720.0, 15.0, 680.0, 760.0),
        )],
        days: Days::Rota(0.4),
        night: true,
    },
];

/// The Iberian customer base.
pub static SPEC: Spec = Spec {
    name: "holdout",
    countries: &[
        Country {
            code: "ES",
            share: 0.78,
            holidays: ES_HOLIDAYS,
        },
        Country {
            code: "PT",
            share: 0.22,
            holidays: PT_HOLIDAYS,
        },
    ],
    tenants: Tenants {
        kinds: [0.30, 0.30, 0.25, 0.15],
        staff: [
            [uniform(0.5, 1.5), uniform(0.0, 1.2), uniform(0.3, 1.5)],
            [
                lognormal(5.0, 0.45, 2.0, 20.0),
                lognormal(2.0, 0.6, 0.0, 10.0),
                lognormal(2.0, 0.4, 1.0, 6.0),
            ],
            [
                lognormal(10.0, 0.45, 3.0, 40.0),
                lognormal(12.0, 0.5, 3.0, 50.0),
                lognormal(4.0, 0.4, 1.0, 12.0),
            ],
            [
                lognormal(40.0, 0.45, 10.0, 120.0),
                lognormal(60.0, 0.45, 15.0, 200.0),
                lognormal(8.0, 0.4, 2.0, 25.0),
            ],
        ],
        sites: [
            uniform(0.5, 1.5),
            uniform(0.5, 2.5),
            uniform(0.5, 3.5),
            uniform(1.5, 5.5),
        ],
        mfa: [0.15, 0.25, 0.45, 0.85],
        mfa_personal: 0.10,
        locum: 0.08,
        locum_sites: uniform(0.5, 3.5),
        integrations: [0.05, 0.3, 0.9, 2.5],
        systems: &[
            ("his-sync", "Mirth-Connect/4.4.1"),
            ("receta-bridge", "Java/11.0.21"),
            ("lab-resultados", "python-httpx/0.27.0"),
            (
                "facturacion",
                "Mozilla/5.0 (Windows NT; Windows NT 10.0; es-ES) WindowsPowerShell/5.1.22621.4391",
            ),
            ("sns-bridge", "okhttp/4.12.0"),
        ],
        // Later than in France: jobs wait for the late evening activity to stop.
        job_start: normal(225.0, 40.0, 120.0, 360.0),
        job_records: lognormal(250.0, 1.1, 5.0, 6000.0),
        job_twice: 0.3,
    },
    shifts: SHIFTS,
    on_call: OnCall {
        hospital_doctors: 0.85,
        practice_doctors: 0.1,
        per_month: lognormal(5.0, 0.3, 2.0, 9.0),
        // After the 08:00–15:00 day, until 08:00.
        start: normal(900.0, 20.0, 870.0, 960.0),
        length: normal(1020.0, 30.0, 960.0, 1080.0),
        weekend_start: normal(540.0, 15.0, 500.0, 580.0),
        weekend_length: normal(1440.0, 20.0, 1400.0, 1480.0),
        sessions: lognormal(9.0, 0.45, 3.0, 25.0),
    },
    habits: Habits {
        rates: [
            [5.0, 3.2, 3.0, 0.12, 0.012],
            [3.2, 1.6, 4.2, 0.05, 0.002],
            [3.0, 11.0, 2.2, 0.4, 0.008],
        ],
        activity: lognormal(1.0, 0.35, 0.25, 3.5),
        search_results: lognormal(10.0, 0.9, 1.0, 120.0),
        print_pages: lognormal(1.2, 0.4, 1.0, 5.0),
        export_records: [
            lognormal(20.0, 0.8, 2.0, 250.0),
            lognormal(8.0, 0.6, 1.0, 60.0),
            lognormal(60.0, 0.8, 5.0, 500.0),
        ],
        sessions_per_block: lognormal(1.6, 0.45, 1.0, 6.0),
        evening: [0.15, 0.04, 0.02],
        evening_start: normal(1290.0, 40.0, 1200.0, 1410.0),
        evening_length: lognormal(25.0, 0.6, 5.0, 120.0),
        late: [0.05, 0.01, 0.005],
        late_start: normal(1440.0, 40.0, 1380.0, 1560.0),
        late_length: lognormal(20.0, 0.6, 5.0, 90.0),
        phone: 0.22,
        day_off: [0.06, 0.02, 0.01],
        absent: 0.04,
        typo: 0.05,
        logout: 0.6,
    },
    devices: Devices {
        desk: &[
            (Family::WindowsChrome, 0.62),
            (Family::WindowsEdge, 0.20),
            (Family::WindowsFirefox, 0.06),
            (Family::MacSafari, 0.06),
            (Family::MacChrome, 0.06),
        ],
        phone: 0.8,
        iphone: 0.32,
        home: 0.3,
        home_families: &[
            (Family::WindowsChrome, 0.5),
            (Family::Ipad, 0.2),
            (Family::MacSafari, 0.15),
            (Family::WindowsEdge, 0.15),
        ],
        keeps_cookie: 0.55,
        update_lag: lognormal(6.0, 0.8, 0.0, 40.0),
    },
    nets: Nets {
        same_city: 0.7,
        v6_household: 0.5,
        v6_session: 0.6,
        // Temporary-address rotation (RFC 8981) and Happy Eyeballs (RFC 8305) falls back to
        // IPv4, more often on the Spanish ISPs' younger IPv6 deployments.
        v6_change_per_hour: 0.14,
        renumber: 0.02,
        carriers: &[
            ("ES", 3352, 0.28),
            ("ES", 12430, 0.24),
            ("ES", 12479, 0.26),
            ("ES", 16299, 0.22),
            ("PT", 3243, 0.41),
            ("PT", 2860, 0.32),
            ("PT", 12353, 0.27),
        ],
        mobile_jump_per_hour: 0.8,
        clouds: &[16509, 8075, 396982],
    },
    lives: Lives {
        bulk_export: [0.06, 0.01, 0.18],
        bulk_records: [
            lognormal(250.0, 1.0, 40.0, 8000.0),
            lognormal(90.0, 0.7, 20.0, 600.0),
            lognormal(900.0, 0.9, 100.0, 12000.0),
        ],
        moving: 0.006,
        personal_vpn: 0.07,
        vpn_use: 0.5,
        vpn_abroad: 0.6,
        relay: 0.25,
        tethering: 0.007,
        ward_pc: 0.8,
        ward_sessions: lognormal(7.0, 0.5, 2.0, 20.0),
        hospital_vpn: 0.35,
        cookie_reset: 0.06,
        new_phone: 0.035,
        new_laptop: 0.01,
        switch_platform: 0.1,
        dormant: 0.04,
        dormant_returns: 0.35,
        new_accounts: 0.03,
        forgotten: 0.009,
        forgotten_failures: lognormal(4.0, 0.45, 2.0, 12.0),
        reset: 0.5,
        mfa_retry: 0.05,
        mfa_retries: lognormal(1.5, 0.5, 1.0, 6.0),
    },
    travel: Travel {
        vacation: 0.07,
        vacation_days: lognormal(10.0, 0.4, 4.0, 28.0),
        vacation_places: &[
            ("Mexico City", 0.15),
            ("Cancun", 0.2),
            ("Cartagena", 0.12),
            ("Buenos Aires", 0.15),
            ("Punta Cana", 0.13),
            ("Paris", 0.1),
            ("Rome", 0.08),
            ("Lisbon", 0.07),
        ],
        vacation_use: 0.3,
        connect: [0.5, 0.2, 0.3],
        conference: 0.05,
        conference_days: lognormal(4.0, 0.3, 2.0, 7.0),
        conference_places: &[
            ("Paris", 0.25),
            ("Vienna", 0.2),
            ("Berlin", 0.15),
            ("Miami", 0.15),
            ("Lisbon", 0.15),
            ("Mexico City", 0.1),
        ],
    },
    attacks: Attacks {
        per_1000: 5.5,
        night: 0.45,
        takeover_records: lognormal(1200.0, 1.1, 80.0, 30000.0),
        dormant_records: lognormal(500.0, 1.0, 40.0, 8000.0),
        hijack_records: lognormal(250.0, 1.0, 30.0, 6000.0),
        plain_nets: [0.4, 0.35, 0.25],
        proxy_city: 0.6,
        copy_nets: [0.6, 0.2, 0.2],
        copy_cookie: 0.25,
        mfa_victims: 0.2,
        stuffing_list: lognormal(140.0, 0.7, 20.0, 1200.0),
        stuffing_unknown: 0.55,
        stuffing_rotating: 0.6,
        stuffing_success: lognormal(0.015, 0.7, 0.001, 0.08),
        stuffing_gap_s: lognormal(12.0, 0.9, 0.5, 300.0),
        spray_tenants: uniform(0.5, 4.5),
        spray_rounds: uniform(0.5, 2.5),
        spray_gap_s: lognormal(240.0, 0.7, 20.0, 1800.0),
        spray_round_gap_min: lognormal(70.0, 0.4, 20.0, 240.0),
        spray_success: 0.025,
        brute_attempts: lognormal(35.0, 0.9, 8.0, 1500.0),
        brute_gap_s: lognormal(15.0, 0.8, 1.0, 300.0),
        brute_success: 0.25,
        hijack_delay_min: lognormal(60.0, 0.8, 3.0, 480.0),
        hijack_domestic: 0.55,
        slow_days: lognormal(12.0, 0.45, 4.0, 30.0),
        slow_records: lognormal(45.0, 0.5, 12.0, 200.0),
        fatigue_pushes: lognormal(12.0, 0.7, 2.0, 80.0),
        fatigue_gap_s: lognormal(60.0, 0.8, 5.0, 900.0),
        fatigue_accept: 0.3,
    },
    names: Names {
        first: &[
            "lucia",
            "maria",
            "carmen",
            "javier",
            "alejandro",
            "pablo",
            "sofia",
            "martina",
            "daniel",
            "jose",
            "antonio",
            "manuel",
            "laura",
            "elena",
            "ana",
            "david",
            "sergio",
            "raquel",
            "joao",
            "ines",
            "tiago",
            "beatriz",
            "rafael",
            "mariana",
            "pedro",
            "catarina",
            "diego",
            "valentina",
            "andres",
            "camila",
            "nuria",
            "jordi",
            "montse",
            "inaki",
            "ainhoa",
        ],
        last: &[
            "garcia",
            "fernandez",
            "gonzalez",
            "rodriguez",
            "lopez",
            "martinez",
            "sanchez",
            "perez",
            "gomez",
            "martin",
            "jimenez",
            "ruiz",
            "hernandez",
            "diaz",
            "moreno",
            "alvarez",
            "romero",
            "navarro",
            "torres",
            "dominguez",
            "silva",
            "santos",
            "ferreira",
            "pereira",
            "oliveira",
            "costa",
            "rodrigues",
            "almeida",
            "carvalho",
            "sousa",
            "puig",
            "vidal",
            "etxeberria",
            "castro",
            "ortega",
            "delgado",
        ],
        kinds: ["consulta", "centro-medico", "clinica", "hospital"],
        clinics: &[
            "san-rafael",
            "santa-teresa",
            "del-pilar",
            "la-luz",
            "nuestra-senora",
            "sagrado-corazon",
            "del-mar",
            "santa-maria",
        ],
        doctor: "dr",
    },
};
