//! Expired entries are entries (issue 21): fail2ban's unban arrives when the ban's
//! time is up, exactly when the listing's `expires=` passes; removing it must work and
//! say it had expired, and `api.zone` must not grow with dead listings: expired API
//! entries go a week after their expiry, audited. Also the calls fail2ban's action
//! makes: a removal limited to one jail's `ticket`, and the API's filters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::support::eventually;
use crate::support::web::{TOKEN, Web, delete, get, launch_with, ward_cli};

const ZONE: &str = "lists.test";

/// `now + offset` seconds as RFC 3339 (UTC), by date(1).
fn rfc3339(offset: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", now + offset),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .expect("date runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn auth() -> (&'static str, String) {
    ("authorization", format!("Bearer {TOKEN}"))
}

fn entries(web: &Web, query: &str) -> Vec<serde_json::Value> {
    let (name, value) = auth();
    let reply = get(
        &web.admin_url(&format!("/api/v1/entries?{query}")),
        &[(name, &value)],
    );
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.json()["entries"].as_array().unwrap().clone()
}

fn keys(list: &[serde_json::Value]) -> Vec<&str> {
    list.iter().map(|e| e["key"].as_str().unwrap()).collect()
}

fn api_zone(web: &Web) -> String {
    std::fs::read_to_string(web.zones.join(ZONE).join("api.zone")).unwrap()
}

#[test]
fn expired_api_entries_are_removed_and_pruned() {
    // What the API wrote over the last weeks: one ban ended an hour ago, one nine
    // days ago, one is live.
    let written = format!(
        "gone@old.example  invalid-recipients  expires={}  by=fail2ban  ticket=ward-invalid-recipients\n\
         late@old.example  invalid-recipients  expires={}  by=fail2ban  ticket=ward-invalid-recipients\n\
         ancient@old.example  invalid-recipients  expires={}  by=fail2ban  ticket=ward-invalid-recipients\n\
         live@old.example  invalid-sender  expires={}  by=fail2ban  ticket=ward-invalid-sender\n",
        rfc3339(-3600),
        rfc3339(-7200),
        rfc3339(-9 * 86_400),
        rfc3339(86_400),
    );
    let web = launch_with(
        &[
            (
                "lists.test/admin.zone",
                "own@corp.example  invalid-sender  expires=2000-01-01T00:00:00Z\n",
            ),
            ("lists.test/api.zone", &written),
        ],
        &[],
        |_| {},
    );
    // Pruned when the web side starts, audited; the admin's own expired line stays.
    eventually(Duration::from_secs(10), "the stale entry is pruned", || {
        !api_zone(&web).contains("ancient@old.example")
    });
    // The audit line follows the file's rewrite: wait for it too (a race CI lost).
    eventually(Duration::from_secs(10), "the prune audited", || {
        std::fs::read_to_string(web.state.join("audit.log")).is_ok_and(|audit| {
            audit
                .lines()
                .any(|l| l.contains("prune") && l.contains("ancient@old.example"))
        })
    });
    let own = std::fs::read_to_string(web.zones.join(ZONE).join("admin.zone")).unwrap();
    assert!(own.contains("own@corp.example"), "admins' files are theirs");

    // Recently expired entries are still entries, marked as such.
    let all = entries(&web, &format!("zone={ZONE}"));
    assert_eq!(
        keys(&all),
        ["gone@old.example", "late@old.example", "live@old.example"]
    );
    assert_eq!(all[0]["expired"], true);
    assert_eq!(all[2]["expired"], false);
    // The filters fail2ban's action and admins use.
    assert_eq!(
        keys(&entries(&web, "key=LIVE%40old.example")),
        ["live@old.example"]
    );
    assert_eq!(
        keys(&entries(&web, "ticket=ward-invalid-sender")),
        ["live@old.example"]
    );
    assert_eq!(entries(&web, "by=fail2ban").len(), 3);
    assert!(entries(&web, "by=api").is_empty());

    // The unban at the end of the ban: removed, and the answer says it had expired.
    let (name, value) = auth();
    let unban = delete(
        &web.admin_url(&format!(
            "/api/v1/entries?zone={ZONE}&key=gone%40old.example&by=fail2ban&ticket=ward-invalid-recipients"
        )),
        &[(name, &value)],
    );
    assert_eq!(unban.status, 200, "{}", unban.body);
    assert_eq!(
        unban.json()["removed"][0]["expired"],
        true,
        "{}",
        unban.body
    );
    assert!(!api_zone(&web).contains("gone@old.example"));
    let (ok, out, err) = ward_cli(web.root.path(), &["remove", ZONE, "late@old.example"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("removed late@old.example") && out.contains("(it had expired)"),
        "{out}"
    );

    // Another jail's unban does not remove this jail's listing.
    let other_jail = delete(
        &web.admin_url(&format!(
            "/api/v1/entries?zone={ZONE}&key=live%40old.example&by=fail2ban&ticket=ward-invalid-recipients"
        )),
        &[(name, &value)],
    );
    assert_eq!(other_jail.status, 404, "{}", other_jail.body);
    assert!(api_zone(&web).contains("live@old.example"));

    // A new ban of a value whose old one expired replaces the line: one per key.
    let again = web.admin_post(
        "/api/v1/entries",
        &json!({"zone": ZONE, "key": "live@old.example", "reason": "invalid-recipients",
                "by": "fail2ban", "ticket": "ward-invalid-recipients", "expires": rfc3339(7200)}),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["replaced"], true);
    let text = api_zone(&web);
    assert_eq!(text.matches("live@old.example").count(), 1, "{text}");
}
