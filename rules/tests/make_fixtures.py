#!/usr/bin/env python3
"""Builds the rule fixtures under rules/tests/<case>/events.jsonl (deterministic).

Each case is a few weeks of honest history (so baselines exist) followed by the moment the case
is about. Every address comes from src/world.rs, so the fixture GeoIP databases resolve it.
Times are written in UTC from Europe/Paris local times. Run from the repository root:

    python3 rules/tests/make_fixtures.py

The generated .jsonl files are committed; expected.toml and README.md are written by hand.
"""

import json
import os
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)))

UA_WIN_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/130.0.0.0 Safari/537.36")
UA_MAC_SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Safari/605.1.15")
UA_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Version/17.5 Mobile/15E148 Safari/604.1")
UA_LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
UA_ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/130.0.0.0 Mobile Safari/537.36")

# History: four weeks of workdays before the incident day (Monday 10 November 2025).
INCIDENT_DAY = datetime(2025, 11, 10)
HISTORY_START = INCIDENT_DAY - timedelta(days=28)


def utc(local: datetime) -> str:
    return local.replace(tzinfo=PARIS).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Case:
    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = random.Random(seed)
        self.events = []
        self.sessions = 0

    def ev(self, local: datetime, **fields):
        e = {"ts": utc(local)}
        e.update(fields)
        self.events.append((local, len(self.events), e))

    def session_id(self, account: str) -> str:
        self.sessions += 1
        return "s-%s-%d" % (account.split("@")[0].replace(".", ""), self.sessions)

    def work_session(self, local, account, tenant, ip, ua, reads=4, exports=0.3, logout=True,
                     failures=0, device_id=None):
        """A login, a few reads/searches, sometimes an export of 1-2 records, then a logout."""
        for i in range(failures):
            self.ev(local - timedelta(seconds=40 - 10 * i), type="login", outcome="failure",
                    account=account, tenant=tenant, ip=ip, user_agent=ua, failure_reason="bad_password")
        sid = self.session_id(account)
        extra = {"device_id": device_id} if device_id else {}
        self.ev(local, type="login", outcome="success", account=account, tenant=tenant,
                session=sid, ip=ip, user_agent=ua, method="password", **extra)
        t = local
        for _ in range(reads):
            t += timedelta(minutes=self.rng.randint(2, 9))
            action = "read" if self.rng.random() < 0.75 else "search"
            self.ev(t, type="access", account=account, tenant=tenant, session=sid, ip=ip,
                    action=action, resource="patient_record", count=self.rng.randint(1, 3))
        if self.rng.random() < exports:
            t += timedelta(minutes=self.rng.randint(1, 5))
            self.ev(t, type="access", account=account, tenant=tenant, session=sid, ip=ip,
                    action="export", resource="patient_record", count=self.rng.randint(1, 2))
        if logout:
            t += timedelta(minutes=self.rng.randint(1, 4))
            self.ev(t, type="logout", account=account, tenant=tenant, session=sid, ip=ip)
        return sid, t

    def history(self, account, tenant, places, ua, hours=((8, 30), (14, 0)), days=28,
                start=None, weekdays_only=True, reads=4):
        """Logins on workdays at the given local hours, from `places` (list of IPs, cycled)."""
        start = start or HISTORY_START
        n = 0
        for d in range(days):
            day = start + timedelta(days=d)
            if weekdays_only and day.weekday() >= 5:
                continue
            for (h, m) in hours:
                local = day.replace(hour=h, minute=m) + timedelta(minutes=self.rng.randint(-20, 20))
                ip = places[n % len(places)]
                n += 1
                self.work_session(local, account, tenant, ip, ua, reads=reads)

    def write(self):
        os.makedirs(os.path.join(OUT, self.name), exist_ok=True)
        path = os.path.join(OUT, self.name, "events.jsonl")
        with open(path, "w") as f:
            for _, _, e in sorted(self.events, key=lambda x: (x[0].replace(tzinfo=PARIS).astimezone(timezone.utc), x[1])):
                f.write(json.dumps(e, separators=(",", ":")) + "\n")


def at(h, m=0, day=INCIDENT_DAY):
    return day.replace(hour=h, minute=m)


CLINIC = "81.250.12.34"          # Orange Business, Rouen: the practice's NAT
T_ROUEN = "cabinet-rouen"


def rouen_practice(c: Case):
    """Dr Martin and two colleagues, all at the Rouen practice behind one NAT."""
    c.history("dr.martin@cabinet-rouen", T_ROUEN, [CLINIC, CLINIC, "90.1.7.21"], UA_WIN_CHROME)
    c.history("dr.leroy@cabinet-rouen", T_ROUEN, [CLINIC], UA_MAC_SAFARI, hours=((9, 0), (15, 30)), reads=2)
    c.history("dr.petit@cabinet-rouen", T_ROUEN, [CLINIC], UA_WIN_CHROME, hours=((8, 0),), reads=2)


def infostealer():
    c = Case("infostealer_new_device_new_network", 1)
    rouen_practice(c)
    # 23:31, correct password on the first try, from a DigitalOcean server in Amsterdam, Firefox
    # on Linux; then 250 records exported in two minutes.
    sid = "s-8f2c"
    acc = "dr.martin@cabinet-rouen"
    c.ev(at(23, 31), id="ev-attack-login", type="login", outcome="success", account=acc, tenant=T_ROUEN,
         session=sid, ip="188.166.23.7", user_agent=UA_LINUX_FIREFOX, method="password")
    c.ev(at(23, 32), type="access", account=acc, tenant=T_ROUEN, session=sid, ip="188.166.23.7",
         action="search", resource="patient_record", count=40)
    c.ev(at(23, 33), id="ev-attack-export", type="access", account=acc, tenant=T_ROUEN, session=sid,
         ip="188.166.23.7", action="export", resource="patient_record", count=250)
    c.write()


def new_country():
    c = Case("new_country_brussels", 2)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # A weekend in Brussels: the usual laptop, a Belgian home network, at a usual hour.
    c.work_session(at(10, 15, INCIDENT_DAY - timedelta(days=1)), acc, T_ROUEN, "81.240.33.8", UA_WIN_CHROME)
    c.write()


def impossible_travel():
    c = Case("impossible_travel_moscow", 3)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    sid, _ = c.work_session(at(8, 40), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, logout=True)
    # 50 minutes later, the same browser (stolen with the password) from Moscow.
    c.ev(at(9, 55), type="login", outcome="success", account=acc, tenant=T_ROUEN, session="s-ru-1",
         ip="95.24.77.3", user_agent=UA_WIN_CHROME, method="password")
    c.write()


def rare_hour():
    c = Case("rare_hour_3am", 4)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # 03:10, at home, usual laptop: nothing else is unusual.
    c.work_session(at(3, 10), acc, T_ROUEN, "90.1.7.21", UA_WIN_CHROME, reads=1)
    c.write()


def high_risk():
    c = Case("high_risk_residential_proxy", 5)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # A residential proxy in the victim's own country: France, so geo alone says nothing; the
    # network (SFR, never used), the device (Firefox on Linux) and the hour (02:40) all differ.
    c.ev(at(2, 40), type="login", outcome="success", account=acc, tenant=T_ROUEN, session="s-px-1",
         ip="93.20.140.9", user_agent=UA_LINUX_FIREFOX, method="password")
    c.write()


def dormant():
    c = Case("dormant_reactivated", 6)
    acc = "dr.girard@cabinet-rouen"
    # A locum who worked three weeks in June, then nothing until November, from a new device.
    c.history(acc, T_ROUEN, [CLINIC], UA_WIN_CHROME, start=datetime(2025, 6, 2), days=21)
    c.history("dr.leroy@cabinet-rouen", T_ROUEN, [CLINIC], UA_MAC_SAFARI, start=datetime(2025, 6, 2), days=21)
    c.ev(at(11, 5), type="login", outcome="success", account=acc, tenant=T_ROUEN, session="s-dorm-1",
         ip="82.66.14.2", user_agent=UA_ANDROID_CHROME, method="password")
    c.write()


def brute_force():
    c = Case("brute_force_one_account", 7)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    t = at(21, 0)
    for i in range(14):
        c.ev(t + timedelta(seconds=20 * i), type="login", outcome="failure", account=acc, tenant=T_ROUEN,
             ip="185.220.101.4", user_agent=UA_LINUX_FIREFOX, failure_reason="bad_password")
    # ...and the fifteenth try works: not a first try, so only the failures give it away.
    c.ev(t + timedelta(seconds=20 * 14), type="login", outcome="success", account=acc, tenant=T_ROUEN,
         session="s-bf-1", ip="185.220.101.4", user_agent=UA_LINUX_FIREFOX, method="password")
    c.write()


def stuffing():
    c = Case("credential_stuffing_hit", 8)
    rouen_practice(c)
    t = at(4, 0)
    # A combo list tried from a cloud server: one or two tries on each of eight accounts...
    for i in range(8):
        acc = "user%d@cabinet-%d" % (i, i)
        for j in range(1 + i % 2):
            c.ev(t + timedelta(seconds=30 * i + 5 * j), type="login", outcome="failure", account=acc,
                 tenant="cabinet-%d" % i, ip="45.133.9.12", user_agent=UA_LINUX_FIREFOX,
                 failure_reason="bad_password")
    # ...and one pair works.
    c.ev(t + timedelta(minutes=5), type="login", outcome="success", account="dr.leroy@cabinet-rouen",
         tenant=T_ROUEN, session="s-stuff-1", ip="45.133.9.12", user_agent=UA_LINUX_FIREFOX, method="password")
    c.write()


def spray():
    c = Case("password_spray_one_source", 9)
    rouen_practice(c)
    t = at(6, 0)
    # One common password against twelve accounts of several practices, two tries at most each.
    for i in range(12):
        acc = "dr.user%d@cabinet-%d" % (i, i % 4)
        for j in range(1 + (i % 3 == 0)):
            c.ev(t + timedelta(seconds=25 * i + 7 * j), type="login", outcome="failure", account=acc,
                 tenant="cabinet-%d" % (i % 4), ip="95.216.14.30", user_agent=UA_LINUX_FIREFOX,
                 failure_reason="bad_password")
    c.write()


def concurrent():
    c = Case("concurrent_session_lagos", 10)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # The doctor is working at the practice (session open, active)...
    c.work_session(at(10, 0), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=3, logout=False)
    # ...while someone logs in from Lagos.
    c.ev(at(10, 18), type="login", outcome="success", account=acc, tenant=T_ROUEN, session="s-ng-1",
         ip="102.88.4.20", user_agent=UA_ANDROID_CHROME, method="password")
    c.write()


def hijacked():
    c = Case("session_cookie_replayed", 11)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    sid, t = c.work_session(at(10, 0), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=2, logout=False)
    # The same session id, same browser string, from Sao Paulo: a stolen cookie.
    c.ev(t + timedelta(minutes=6), type="access", account=acc, tenant=T_ROUEN, session=sid,
         ip="177.0.45.6", user_agent=UA_WIN_CHROME, action="search", resource="patient_record", count=20)
    c.write()


def bulk_export():
    c = Case("bulk_export_familiar_login", 12)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # A familiar login, then 180 records exported in 20-record batches: 90× the usual volume.
    sid, t = c.work_session(at(9, 0), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=2, logout=False)
    for i in range(9):
        c.ev(t + timedelta(seconds=30 * (i + 1)), type="access", account=acc, tenant=T_ROUEN, session=sid,
             ip=CLINIC, action="export", resource="patient_record", count=20)
    c.write()


def copied_ua_export():
    c = Case("copied_ua_export_from_new_network", 15)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # At 10:15, a usual hour, Dr Martin's own browser and OS (the user agent copied from an
    # infostealer log) from a Free broadband line in Paris the account never used: one family at
    # login, no revocation; then 300 records exported in 30-record batches.
    sid = "s-copied-ua"
    ip = "82.66.90.4"
    c.ev(at(10, 15), type="login", outcome="success", account=acc, tenant=T_ROUEN, session=sid,
         ip=ip, user_agent=UA_WIN_CHROME, method="password")
    c.ev(at(10, 16), type="access", account=acc, tenant=T_ROUEN, session=sid, ip=ip,
         action="search", resource="patient_record", count=5)
    for i in range(10):
        c.ev(at(10, 17) + timedelta(seconds=20 * i), id="ev-copied-ua-export-%d" % i, type="access",
             account=acc, tenant=T_ROUEN, session=sid, ip=ip, action="export",
             resource="patient_record", count=30)
    c.write()


def bulk_read():
    c = Case("bulk_read_familiar_login", 13)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    sid, t = c.work_session(at(9, 0), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=1, logout=False)
    for i in range(8):
        c.ev(t + timedelta(seconds=40 * (i + 1)), type="access", account=acc, tenant=T_ROUEN, session=sid,
             ip=CLINIC, action="read", resource="patient_record", count=50)
    c.write()


def hosting():
    c = Case("hosting_provider_login", 14)
    rouen_practice(c)
    # A known device, at a usual hour, but from an OVH server (a tunnel through rented hosting).
    c.work_session(at(9, 5), "dr.petit@cabinet-rouen", T_ROUEN, "51.75.20.1", UA_WIN_CHROME, reads=1)
    c.write()


# ---- Honest look-alikes: none may raise a high or critical alert. ----

def new_phone():
    c = Case("negative_new_phone_on_clinic_network", 20)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # A new iPhone, first used at the practice, at the usual hour, with ordinary reads.
    c.work_session(at(8, 35), acc, T_ROUEN, CLINIC, UA_IPHONE, reads=3)
    c.write()


def conference():
    c = Case("negative_conference_trip_barcelona", 21)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    d0 = INCIDENT_DAY
    # Monday at the practice, Tuesday on the train via Paris (mobile), Tuesday evening to Friday
    # at the congress hotel in Barcelona with the usual laptop, back on Saturday.
    c.work_session(at(8, 30, d0), acc, T_ROUEN, CLINIC, UA_WIN_CHROME)
    c.work_session(at(9, 10, d0 + timedelta(days=1)), acc, T_ROUEN, "37.160.8.19", UA_WIN_CHROME, reads=2)
    c.work_session(at(19, 30, d0 + timedelta(days=1)), acc, T_ROUEN, "83.32.200.14", UA_WIN_CHROME, reads=2)
    for k in range(2, 5):
        c.work_session(at(8, 0, d0 + timedelta(days=k)), acc, T_ROUEN, "83.32.200.14", UA_WIN_CHROME, reads=2)
        c.work_session(at(18, 45, d0 + timedelta(days=k)), acc, T_ROUEN, "83.32.200.14", UA_WIN_CHROME, reads=2)
    c.work_session(at(17, 0, d0 + timedelta(days=5)), acc, T_ROUEN, "90.1.7.21", UA_WIN_CHROME, reads=2)
    c.write()


def hospital_vpn():
    c = Case("negative_hospital_vpn", 22)
    t = "chu-lyon"
    home = "82.65.30.7"        # Free, Marseille: the consultant lives there
    # Two colleagues reach the hospital application through the RENATER VPN concentrator in Paris.
    c.history("dr.bernard@chu-lyon", t, ["193.50.4.10"], UA_WIN_CHROME)
    c.history("dr.moreau@chu-lyon", t, ["193.50.4.10", "193.50.4.11"], UA_MAC_SAFARI)
    # The consultant usually logs in from home...
    c.history("dr.faure@chu-lyon", t, [home], UA_WIN_CHROME)
    # ...and today, 15 minutes after a home login, through the VPN (661 km away, same laptop).
    c.work_session(at(7, 30), "dr.faure@chu-lyon", t, home, UA_WIN_CHROME, reads=1)
    c.work_session(at(7, 50), "dr.faure@chu-lyon", t, "193.50.4.10", UA_WIN_CHROME, reads=2)
    c.write()


def mobile_carrier():
    c = Case("negative_mobile_carrier_ip_jumps", 23)
    rouen_practice(c)
    acc = "dr.durand@cabinet-rouen"
    # A home-visit doctor on Free Mobile: the carrier's pools geolocate to Rouen or Marseille.
    c.history(acc, T_ROUEN, ["80.214.9.2", "80.214.77.40", "80.215.3.3", CLINIC], UA_ANDROID_CHROME)
    sid, t = c.work_session(at(9, 0), acc, T_ROUEN, "80.214.120.5", UA_ANDROID_CHROME, reads=2, logout=False)
    # 20 minutes later the same session continues from a "Marseille" address, then a new login.
    c.ev(t + timedelta(minutes=3), type="access", account=acc, tenant=T_ROUEN, session=sid, ip="80.215.61.8",
         action="read", resource="patient_record", count=1)
    c.work_session(t + timedelta(minutes=12), acc, T_ROUEN, "80.215.61.8", UA_ANDROID_CHROME, reads=2)
    c.write()


def night_shift():
    c = Case("negative_night_shift_doctor", 24)
    t = "sos-medecins-rouen"
    acc = "dr.nuit@sos-medecins-rouen"
    # Night shifts every day of the week, logins between 21:00 and 05:00.
    c.history(acc, t, ["90.1.50.3"], UA_WIN_CHROME, hours=((22, 0), (2, 30)), weekdays_only=False)
    c.work_session(at(3, 5), acc, t, "90.1.50.3", UA_WIN_CHROME, reads=3)
    c.write()


def locum():
    c = Case("negative_locum_on_practice_network", 25)
    rouen_practice(c)
    acc = "dr.remplacant@cabinet-rouen"
    # The locum worked remotely from home in Nantes (Free) on a Mac...
    c.history(acc, T_ROUEN, ["82.66.90.4"], UA_MAC_SAFARI, hours=((10, 0),))
    # ...and today replaces Dr Martin at the practice, on the practice's Windows PC.
    c.work_session(at(8, 45), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=4)
    c.write()


def ipv6_privacy():
    c = Case("negative_ipv6_privacy_address", 26)
    rouen_practice(c)
    acc = "dr.simon@cabinet-rouen"
    rng = random.Random(26)

    def v6():
        # Same /64 (the home box's), a fresh random interface id each time.
        return "2a01:cb00:1f0:2a00:%x:%x:%x:%x" % tuple(rng.randint(1, 0xffff) for _ in range(4))

    c.history(acc, T_ROUEN, [v6() for _ in range(60)], UA_MAC_SAFARI)
    c.work_session(at(8, 20), acc, T_ROUEN, v6(), UA_MAC_SAFARI, reads=3)
    c.write()


def new_laptop_near():
    c = Case("new_laptop_tethered_near_home", 22)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # A new personal laptop on the phone's 4G (Free Mobile, Rouen) at 12:40, a usual hour, in the
    # usual city: a never-seen device on a never-seen network, but nothing else out of place.
    sid = "s-lunch-1"
    c.ev(at(12, 40), type="login", outcome="success", account=acc, tenant=T_ROUEN, session=sid,
         ip="80.214.77.5", user_agent=UA_LINUX_FIREFOX, method="password")
    c.ev(at(12, 42), type="access", account=acc, tenant=T_ROUEN, session=sid, ip="80.214.77.5",
         action="read", resource="patient_record", count=2)
    c.write()


def dormant_datacentre():
    c = Case("dormant_takeover_datacentre", 23)
    acc = "dr.girard@cabinet-rouen"
    # The locum of June again, but back in November through a DigitalOcean server in Amsterdam
    # with the usual browser string: a dormant account and a rented server, two families.
    c.history(acc, T_ROUEN, [CLINIC], UA_WIN_CHROME, start=datetime(2025, 6, 2), days=21)
    c.history("dr.leroy@cabinet-rouen", T_ROUEN, [CLINIC], UA_MAC_SAFARI, start=datetime(2025, 6, 2), days=21)
    c.ev(at(21, 40), type="login", outcome="success", account=acc, tenant=T_ROUEN, session="s-dorm-dc",
         ip="188.166.40.2", user_agent=UA_WIN_CHROME, method="password")
    c.write()


def low_and_slow():
    c = Case("low_and_slow_exports_unusual_network", 24)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # Four evenings in a row, from an SFR line in Montpellier the account never used, with Dr
    # Martin's own browser string: a few reads, then 25 records exported, each session small.
    ip = "93.22.74.175"
    for d in range(4):
        day = INCIDENT_DAY - timedelta(days=3 - d)
        sid = "s-slow-%d" % d
        t = at(19, 5 + d, day)
        c.ev(t, type="login", outcome="success", account=acc, tenant=T_ROUEN, session=sid, ip=ip,
             user_agent=UA_WIN_CHROME, method="password")
        for i in range(3):
            c.ev(t + timedelta(minutes=2 + i), type="access", account=acc, tenant=T_ROUEN, session=sid,
                 ip=ip, action="read", resource="patient_record", count=1)
        c.ev(t + timedelta(minutes=8), id="ev-slow-export-%d" % d, type="access", account=acc,
             tenant=T_ROUEN, session=sid, ip=ip, action="export", resource="patient_record", count=25)
        c.ev(t + timedelta(minutes=9), type="logout", account=acc, tenant=T_ROUEN, session=sid, ip=ip)
    c.write()


def burst_new_network():
    c = Case("burst_after_new_network", 25)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # 10:20, a usual hour, Dr Martin's own browser string (copied), a Free line in Grenoble the
    # account never used: nothing at login; then 60, 70 and 80 records read in three minutes.
    sid = "s-burst"
    ip = "82.67.3.4"
    c.ev(at(10, 20), type="login", outcome="success", account=acc, tenant=T_ROUEN, session=sid, ip=ip,
         user_agent=UA_WIN_CHROME, method="password")
    for i, n in enumerate([60, 70, 80]):
        c.ev(at(10, 21 + i), id="ev-burst-%d" % i, type="access", account=acc, tenant=T_ROUEN,
             session=sid, ip=ip, action="search", resource="patient_record", count=n)
    c.write()


def hijacked_nearby():
    c = Case("session_cookie_replayed_nearby", 26)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    sid, t = c.work_session(at(10, 0), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=2, logout=False)
    # A minute after Dr Martin's last click at the practice in Rouen, the same session from a
    # Free line in Nantes, 300 km away: closer than the 500 km rule, faster than anyone moves.
    c.ev(t + timedelta(minutes=1), type="access", account=acc, tenant=T_ROUEN, session=sid,
         ip="82.66.14.9", action="search", resource="patient_record", count=15)
    c.write()


def personal_vpn():
    c = Case("negative_personal_vpn", 27)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # Evening at home with the usual laptop, through Proton VPN: a new network, but a VPN, and
    # the same device: no revocation.
    c.work_session(at(20, 30), acc, T_ROUEN, "185.159.157.20", UA_WIN_CHROME, reads=3)
    c.write()


def moving_house():
    c = Case("negative_moving_house", 28)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # Moved to Paris: the usual laptop from a Bouygues home line, a week of evenings.
    for d in range(5):
        c.work_session(at(19, 10, INCIDENT_DAY + timedelta(days=d)), acc, T_ROUEN, "176.128.9.14",
                       UA_WIN_CHROME, reads=3)
    c.write()


def integration():
    c = Case("negative_integration_nightly_export", 29)
    rouen_practice(c)
    acc = "svc-dmp-sync@cabinet-rouen"
    # A connector on a Scaleway server exports the day's letters every night at 01:00: 80 to
    # 140 records, the same every night for four weeks, then tonight.
    for d in range(29):
        day = HISTORY_START + timedelta(days=d)
        sid = "s-svc-%d" % d
        t = day.replace(hour=1, minute=c.rng.randint(0, 10))
        c.ev(t, type="login", outcome="success", account=acc, tenant=T_ROUEN, session=sid,
             ip="51.158.22.7", user_agent="DMP-Sync/2.8 python-requests/2.31.0", method="password")
        c.ev(t + timedelta(minutes=1), type="access", account=acc, tenant=T_ROUEN, session=sid,
             ip="51.158.22.7", action="export", resource="patient_record", count=c.rng.randint(80, 140))
        c.ev(t + timedelta(minutes=2), type="logout", account=acc, tenant=T_ROUEN, session=sid,
             ip="51.158.22.7")
    c.write()


def mfa_fatigue():
    c = Case("mfa_fatigue_prompts_denied", 30)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # 22:10: the right password from a Free line in Grenoble, then the push prompt sent to Dr
    # Martin's phone seven times in four minutes, denied every time.
    sid = "s-mfa-bomb"
    ip = "82.67.8.41"
    c.ev(at(22, 10), type="login", outcome="success", account=acc, tenant=T_ROUEN, session=sid, ip=ip,
         user_agent=UA_WIN_CHROME, method="password")
    for i in range(7):
        c.ev(at(22, 10) + timedelta(seconds=15 + 35 * i), type="mfa", outcome="failure", account=acc,
             tenant=T_ROUEN, session=sid, ip=ip)
    c.write()


def mfa_accepted():
    c = Case("mfa_accepted_after_denials", 31)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # The same, but after six denials in three and a half minutes the seventh prompt is accepted
    # out of weariness.
    sid = "s-mfa-yes"
    ip = "82.67.8.41"
    c.ev(at(22, 10), type="login", outcome="success", account=acc, tenant=T_ROUEN, session=sid, ip=ip,
         user_agent=UA_WIN_CHROME, method="password")
    for i in range(6):
        c.ev(at(22, 10) + timedelta(seconds=15 + 35 * i), type="mfa", outcome="failure", account=acc,
             tenant=T_ROUEN, session=sid, ip=ip)
    c.ev(at(22, 14), type="mfa", outcome="success", account=acc, tenant=T_ROUEN, session=sid, ip=ip)
    c.write()


def owner_after_guessing():
    c = Case("negative_owner_logs_in_after_others_guessing", 32)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # A stranger fails fourteen times on Dr Martin's account from a VPN exit at 08:20; at 08:25
    # Dr Martin logs in from home, on the usual computer: not a takeover.
    t = at(8, 20)
    for i in range(14):
        c.ev(t + timedelta(seconds=20 * i), type="login", outcome="failure", account=acc, tenant=T_ROUEN,
             ip="185.220.101.4", user_agent=UA_LINUX_FIREFOX, failure_reason="bad_password")
    c.work_session(at(8, 25), acc, T_ROUEN, "90.1.7.21", UA_WIN_CHROME, reads=2)
    c.write()


def private_relay():
    c = Case("negative_private_relay", 33)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # An evening check on the iPhone through iCloud Private Relay (Akamai's egress in Paris).
    c.work_session(at(21, 5), acc, T_ROUEN, "172.224.226.9", UA_IPHONE, reads=2, exports=0)
    c.write()


def cookie_reset():
    c = Case("negative_cookie_reset", 34)
    acc = "dr.martin@cabinet-rouen"
    n = 0
    for d in range(28):
        day = HISTORY_START + timedelta(days=d)
        if day.weekday() >= 5:
            continue
        for (h, m) in ((8, 30), (14, 0)):
            n += 1
            c.work_session(day.replace(hour=h, minute=m), acc, T_ROUEN, CLINIC, UA_WIN_CHROME,
                           device_id="dev-7f3a")
    c.history("dr.leroy@cabinet-rouen", T_ROUEN, [CLINIC], UA_MAC_SAFARI, hours=((9, 0), (15, 30)), reads=2)
    # The browser's cookies were cleared: a new device id, the same computer, at the practice.
    c.work_session(at(8, 35), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, device_id="dev-91c2")
    c.write()


def forgotten_password_mfa_retry():
    c = Case("negative_forgotten_password_mfa_retry", 35)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # Three wrong passwords at home, the right one, two refused codes, then the right code.
    sid, t = c.work_session(at(8, 5), acc, T_ROUEN, "90.1.7.21", UA_WIN_CHROME, reads=0, logout=False,
                            failures=3)
    for i in range(2):
        c.ev(t + timedelta(seconds=20 + 25 * i), type="mfa", outcome="failure", account=acc, tenant=T_ROUEN,
             session=sid, ip="90.1.7.21")
    c.ev(t + timedelta(seconds=80), type="mfa", outcome="success", account=acc, tenant=T_ROUEN, session=sid,
         ip="90.1.7.21")
    c.ev(t + timedelta(minutes=3), type="access", account=acc, tenant=T_ROUEN, session=sid, ip="90.1.7.21",
         action="read", resource="patient_record", count=2)
    c.write()


def new_account():
    c = Case("negative_new_account", 36)
    rouen_practice(c)
    # A new colleague's first morning at the practice: an account never seen, on the practice's NAT.
    c.work_session(at(9, 10), "dr.nouveau@cabinet-rouen", T_ROUEN, CLINIC, UA_WIN_CHROME, reads=5)
    c.write()


def late_night():
    c = Case("negative_late_night_work", 37)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # Catching up on letters at 23:40 from home, on the usual laptop.
    c.work_session(at(23, 40), acc, T_ROUEN, "90.1.7.21", UA_WIN_CHROME, reads=6)
    c.write()


def shared_ward_pc():
    c = Case("negative_shared_ward_pc", 38)
    ward = "193.48.7.7"     # the hospital's network (RENATER, Rouen)
    accounts = ["dr.moreau@chu-rouen", "dr.lambert@chu-rouen", "inf.girard@chu-rouen"]
    for i, acc in enumerate(accounts):
        c.history(acc, "chu-rouen", [ward], UA_WIN_CHROME, hours=((7 + i, 10), (13 + i, 40)), reads=3)
    # The ward's one PC, the same browser, three people within the hour.
    for i, acc in enumerate(accounts):
        c.work_session(at(10, 5 + 15 * i), acc, "chu-rouen", ward, UA_WIN_CHROME, reads=3)
    c.write()


def vacation_own_phone():
    c = Case("negative_vacation_own_phone", 39)
    acc = "dr.martin@cabinet-rouen"
    c.history(acc, T_ROUEN, [CLINIC, CLINIC, "90.1.7.21"], UA_WIN_CHROME)
    c.history("dr.leroy@cabinet-rouen", T_ROUEN, [CLINIC], UA_MAC_SAFARI, hours=((9, 0), (15, 30)), reads=2)
    for d in range(0, 28, 3):
        day = HISTORY_START + timedelta(days=d)
        c.work_session(day.replace(hour=19, minute=30), acc, T_ROUEN, "90.1.7.21", UA_IPHONE, reads=1,
                       exports=0, device_id="iphone-martin")
    # A week's holiday in Barcelona: the same phone, the hotel's Wi-Fi.
    for d in range(3):
        c.work_session(at(18, 10, INCIDENT_DAY + timedelta(days=d)), acc, T_ROUEN, "83.32.14.7", UA_IPHONE,
                       reads=1, exports=0, device_id="iphone-martin")
    c.write()


def vacation_personal_laptop():
    c = Case("negative_vacation_personal_laptop", 40)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # Dr Martin's own MacBook, never used for the service, first opened on holiday: the rental's
    # Spanish home line, an ordinary afternoon hour, a few records read.
    for d in range(2):
        c.work_session(at(16, 20, INCIDENT_DAY + timedelta(days=d)), acc, T_ROUEN, "83.32.14.7", UA_MAC_SAFARI,
                       reads=3, exports=0, device_id="macbook-martin")
    c.write()


def two_networks():
    c = Case("session_used_from_two_networks", 41)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    sid, t = c.work_session(at(10, 0), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=3, logout=False)
    # Ten minutes after Dr Martin's last click at the practice, her session cookie is replayed
    # from a Free home line in Paris (110 km: too near and too slow for the travel rule) and
    # searches records; four minutes later Dr Martin clicks again at the practice.
    c.ev(t + timedelta(minutes=10), type="access", account=acc, tenant=T_ROUEN, session=sid,
         ip="78.192.44.8", action="search", resource="patient_record", count=60)
    c.ev(t + timedelta(minutes=14), id="ev-owner-back", type="access", account=acc, tenant=T_ROUEN,
         session=sid, ip=CLINIC, action="read", resource="patient_record", count=1)
    c.write()


def phone_wifi_cellular():
    c = Case("negative_phone_wifi_and_cellular", 42)
    rouen_practice(c)
    acc = "dr.blanc@cabinet-rouen"
    c.history(acc, T_ROUEN, [CLINIC, "90.1.7.22"], UA_IPHONE, hours=((9, 0), (19, 30)), reads=2)
    # At home on the iPhone: the Wi-Fi drops in the garden, the phone carries on over Bouygues
    # Telecom's network (never used by the account), then the Wi-Fi comes back.
    sid, t = c.work_session(at(19, 40), acc, T_ROUEN, "90.1.7.22", UA_IPHONE, reads=2, logout=False)
    c.ev(t + timedelta(minutes=3), type="access", account=acc, tenant=T_ROUEN, session=sid,
         ip="37.160.8.19", action="read", resource="patient_record", count=1)
    c.ev(t + timedelta(minutes=6), type="access", account=acc, tenant=T_ROUEN, session=sid,
         ip="90.1.7.22", action="read", resource="patient_record", count=2)
    c.write()


def login_after_leak():
    c = Case("login_after_leak", 43)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # The identity provider reports Dr Martin's password leaked at 08:00 (signals.toml). She
    # works at the practice as usual; at 21:10 her password, on her usual browser string, logs
    # in from a Free home line in Paris the account never used.
    c.work_session(at(8, 40), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=3)
    c.work_session(at(21, 10), acc, T_ROUEN, "78.192.44.8", UA_WIN_CHROME, reads=2)
    c.write()


def leak_then_password_change():
    c = Case("negative_leak_then_password_changed", 44)
    rouen_practice(c)
    acc = "dr.martin@cabinet-rouen"
    # Told of the leak (signals.toml, 08:00), Dr Martin changes her password at the practice;
    # that evening she works from a friend's home line in Paris.
    sid, t = c.work_session(at(8, 40), acc, T_ROUEN, CLINIC, UA_WIN_CHROME, reads=1, logout=False)
    c.ev(t + timedelta(minutes=1), type="password_change", outcome="success", account=acc,
         tenant=T_ROUEN, session=sid, ip=CLINIC)
    c.work_session(at(21, 10), acc, T_ROUEN, "78.192.44.8", UA_WIN_CHROME, reads=2)
    c.write()


if __name__ == "__main__":
    for f in [infostealer, new_country, impossible_travel, rare_hour, high_risk, dormant, brute_force,
              stuffing, spray, concurrent, hijacked, bulk_export, copied_ua_export, bulk_read, hosting, new_phone,
              conference, hospital_vpn, mobile_carrier, night_shift, locum, ipv6_privacy, new_laptop_near,
              dormant_datacentre, low_and_slow, burst_new_network, hijacked_nearby, personal_vpn, moving_house,
              integration, mfa_fatigue, mfa_accepted, owner_after_guessing, private_relay, cookie_reset,
              forgotten_password_mfa_retry, new_account, late_night, shared_ward_pc, vacation_own_phone,
              vacation_personal_laptop, two_networks, phone_wifi_cellular, login_after_leak,
              leak_then_password_change]:
        f()
