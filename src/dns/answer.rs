//! The answer logic, shared by the hand-written encoder (UDP hot path) and the hickory
//! handler (TCP and unusual queries): what rcode, flags and records a question gets.
//! It only borrows from the snapshot; encoders turn it into bytes.

use std::net::IpAddr;

use smallvec::SmallVec;

use crate::dns::counters::{Guarded, Outcome};
use crate::store::{Located, Snapshot};
use crate::zone::acl::{AclAction, Verdict};
use crate::zone::generic::RecordData;
use crate::zone::name::{Name, NameRef};
use crate::zone::reason::Template;
use crate::zone::slot::{NO_KEY, NO_ZONE};
use crate::zone::{Asking, Found, FoundList, IpName, Presence, Soa, Subject, Visibility, Zone};

use super::query::Question;

// Indexes into `stats::ACL_ACTIONS`.
const ACL_REFUSE: u8 = 0;
const ACL_IGNORE: u8 = 1;
const ACL_EMPTY: u8 = 2;
const ACL_ANSWER: u8 = 3;

pub(crate) mod rcode {
    pub(crate) const NOERROR: u16 = 0;
    pub(crate) const FORMERR: u16 = 1;
    pub(crate) const SERVFAIL: u16 = 2;
    pub(crate) const NXDOMAIN: u16 = 3;
    pub(crate) const NOTIMP: u16 = 4;
    pub(crate) const REFUSED: u16 = 5;
    pub(crate) const BADVERS: u16 = 16;
}

pub(crate) mod rtype {
    pub(crate) const A: u16 = 1;
    pub(crate) const NS: u16 = 2;
    pub(crate) const SOA: u16 = 6;
    pub(crate) const MX: u16 = 15;
    pub(crate) const TXT: u16 = 16;
    pub(crate) const OPT: u16 = 41;
    pub(crate) const TKEY: u16 = 249;
    pub(crate) const TSIG: u16 = 250;
    pub(crate) const IXFR: u16 = 251;
    pub(crate) const AXFR: u16 = 252;
    pub(crate) const MAILB: u16 = 253;
    pub(crate) const MAILA: u16 = 254;
    pub(crate) const ANY: u16 = 255;
}

pub(crate) const CLASS_IN: u16 = 1;
pub(crate) const CLASS_ANY: u16 = 255;

/// Whose name a record is owned by: the query name as asked, or the zone apex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    QName,
    Apex,
}

#[derive(Clone, Copy)]
pub(crate) enum Txt<'s> {
    Template(&'s Template, Subject),
    Raw(&'s [u8]),
}

#[derive(Clone, Copy)]
pub(crate) enum RData<'s> {
    A([u8; 4]),
    Txt(Txt<'s>),
    Soa(&'s Soa),
    Ns(&'s Name),
    Mx(u16, &'s Name),
}

impl RData<'_> {
    pub(crate) fn rtype(&self) -> u16 {
        match self {
            RData::A(_) => rtype::A,
            RData::Txt(_) => rtype::TXT,
            RData::Soa(_) => rtype::SOA,
            RData::Ns(_) => rtype::NS,
            RData::Mx(..) => rtype::MX,
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Rr<'s> {
    pub(crate) owner: Owner,
    pub(crate) ttl: u32,
    pub(crate) data: RData<'s>,
}

pub(crate) type Records<'s> = SmallVec<[Rr<'s>; 8]>;

/// When a reply goes out: now, never (ACL `ignore`), or some seconds later (a
/// listing's tarpit, `@ delay=…` without `ts=`). One number, so that setting it costs
/// the answer no branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hold(pub(crate) u32);

impl Hold {
    pub(crate) const NOW: Hold = Hold(0);
    pub(crate) const NEVER: Hold = Hold(u32::MAX);
    /// The longest tarpit: a day (the fork's longest is 49 days, in milliseconds).
    pub(crate) const LONGEST: u32 = 86_400;

    pub(crate) fn seconds(seconds: u32) -> Hold {
        Hold(seconds.min(Hold::LONGEST))
    }
}

/// The complete answer to one question.
pub struct Answer<'s> {
    /// Extended rcode (values above 15 travel in the OPT record).
    pub(crate) rcode: u16,
    pub(crate) authoritative: bool,
    pub(crate) hold: Hold,
    pub(crate) answers: Records<'s>,
    pub(crate) authority: Records<'s>,
    /// Labels of the query name below the zone apex: where `Owner::Apex` starts.
    pub(crate) apex_skip: usize,
    /// The answer lists the name (a listing's A or TXT), for the counters.
    pub(crate) listed: bool,
    /// The zone's counter slot ([`NO_ZONE`] outside every zone).
    pub(crate) zone_slot: u16,
    /// What access control (ACL, access keys) did, for the counters; `None` in a zone
    /// anyone may query.
    pub(crate) guard: Option<Guarded>,
}

impl<'s> Answer<'s> {
    pub(crate) fn error(rcode: u16) -> Self {
        Answer {
            rcode,
            authoritative: false,
            hold: Hold::NOW,
            answers: SmallVec::new(),
            authority: SmallVec::new(),
            apex_skip: 0,
            listed: false,
            zone_slot: NO_ZONE,
            guard: None,
        }
    }

    /// What this answer to a `qtype` question counts as.
    pub(crate) fn outcome(&self, qtype: u16) -> Outcome {
        Outcome {
            zone_slot: self.zone_slot,
            qtype,
            rcode: self.rcode,
            listed: self.listed,
            guard: self.guard,
        }
    }
}

/// Answers `question` from `snapshot` for a client at `client`; `now` is Unix seconds.
pub fn resolve<'s>(
    snapshot: &'s Snapshot,
    question: &Question,
    client: IpAddr,
    now: i64,
) -> Answer<'s> {
    resolve_located(snapshot.locate(question.name.view()), question, client, now)
}

/// [`resolve`] for a query name already located in the snapshot (`None`: in no zone).
pub(crate) fn resolve_located<'s>(
    located: Option<Located<'s>>,
    question: &Question,
    client: IpAddr,
    now: i64,
) -> Answer<'s> {
    let authoritative = match question.qclass {
        CLASS_IN => true,
        // QCLASS * asks every class: we only have IN, but may not claim authority.
        CLASS_ANY => false,
        _ => return Answer::error(rcode::REFUSED),
    };
    let qname = question.name.view();
    #[cfg(feature = "fault-injection")]
    crate::faults::query(qname.labels().next());
    let Some(located) = located else {
        return Answer::error(rcode::REFUSED);
    };
    let zone = located.zone;
    let in_zone = |answer: Answer<'s>, guard: Option<Guarded>| Answer {
        zone_slot: zone.counter_slot,
        guard,
        ..answer
    };
    let mut relative = located.relative(qname);
    let mut ip = located.ip;
    let mut keyed = false;
    let mut guard = None;
    // An `empty` client sees the zone as listing nothing: not the listings, and not
    // the names that exist only because something is listed below them.
    let mut visibility = Visibility::All;
    let mut forced = None;
    // One branch for a zone anyone may query.
    if let Some(access) = &zone.access {
        // Keys never apply to the zone's own records (the rspamd fork's rule, which
        // takes ANY for one of them).
        let keys_apply = !matches!(question.qtype, rtype::SOA | rtype::NS | rtype::ANY);
        let labels = relative.label_count();
        let label = (labels >= 2).then(|| relative.label(labels - 1));
        let decision = access.decide(client, keys_apply, label);
        let (key, known) = decision.key.unwrap_or((NO_KEY, false));
        if known {
            // The key's label is not part of the name looked up; the IP is read from
            // what is left (the fork reads it before, so `2.0.0.127.key.zone` never
            // matched an address there, though its manual says it does).
            relative = relative.prefix(labels - 1);
            ip = IpName::classify(relative);
            keyed = true;
        }
        let acl = decision.acl.map(|action| match action {
            AclAction::Ignore => ACL_IGNORE,
            AclAction::Refuse => ACL_REFUSE,
            AclAction::Empty => ACL_EMPTY,
            _ => ACL_ANSWER,
        });
        guard = Some(Guarded {
            acl,
            key,
            key_label: known.then(|| (labels - 1) as u8),
        });
        match decision.outcome {
            Verdict::Drop => {
                let dropped = Answer {
                    hold: Hold::NEVER,
                    ..Answer::error(rcode::REFUSED)
                };
                return in_zone(dropped, guard);
            }
            Verdict::Refuse => return in_zone(Answer::error(rcode::REFUSED), guard),
            Verdict::Serve { empty, forced: f } => {
                if empty {
                    visibility = Visibility::RecordsOnly;
                }
                forced = f;
            }
        }
    }
    let refusal = match question.qtype {
        rtype::AXFR | rtype::IXFR => Some(rcode::REFUSED),
        rtype::MAILA | rtype::MAILB => Some(rcode::NOTIMP),
        rtype::OPT | rtype::TKEY | rtype::TSIG => Some(rcode::FORMERR),
        _ => None,
    };
    if let Some(code) = refusal {
        return in_zone(Answer::error(code), guard);
    }
    let mut answer = Answer {
        rcode: rcode::NOERROR,
        authoritative,
        hold: Hold::NOW,
        answers: SmallVec::new(),
        authority: SmallVec::new(),
        apex_skip: located.relative_labels,
        listed: false,
        zone_slot: zone.counter_slot,
        guard,
    };
    let mut found = FoundList::new();
    let mut asking = Asking {
        now,
        keyed,
        visibility,
        delay: 0,
    };
    let mut presence = zone.lookup(relative, ip, &mut asking, &mut found);
    answer.hold = Hold::seconds(asking.delay);
    if let Some((value, txt, ttl)) = forced
        && presence != Presence::Apex
        && is_listing_name(zone, ip)
    {
        found.clear();
        found.push(Found::Listing {
            value,
            txt,
            ttl,
            subject: match client {
                IpAddr::V4(v4) => Subject::Ip4(u32::from(v4)),
                IpAddr::V6(v6) => Subject::Ip6(u128::from(v6)),
            },
        });
        presence = Presence::Listed;
    }
    if presence == Presence::Apex {
        apex_records(zone, question.qtype, &found, &mut answer.answers);
    } else {
        collect(question.qtype, &found, &mut answer.answers);
    }
    answer.listed = presence == Presence::Listed && !answer.answers.is_empty();
    if answer.answers.is_empty() {
        // rbldnsd answers NXDOMAIN for empty non-terminals too (`ward rbldnsd`).
        if presence == Presence::Absent
            || (presence == Presence::Exists && zone.empty_names_nxdomain)
        {
            answer.rcode = rcode::NXDOMAIN;
        }
        answer.authority.push(Rr {
            owner: Owner::Apex,
            ttl: zone.soa.negative_ttl(),
            data: RData::Soa(&zone.soa),
        });
    }
    answer
}

/// Names a forced ACL answer applies to: what a client would ask about (a full IP, or
/// any name in a zone that lists names), not empty non-terminals of IP zones.
fn is_listing_name(zone: &Zone, ip: IpName) -> bool {
    ip.is_address()
        || zone
            .datasets
            .iter()
            .any(|d| !d.names.is_empty() || !d.digests.is_empty())
}

fn wants(qtype: u16, rtype: u16) -> bool {
    qtype == rtype || qtype == rtype::ANY
}

/// Records at the apex: SOA, NS, and any generic `@` records.
fn apex_records<'s>(zone: &'s Zone, qtype: u16, found: &FoundList<'s>, out: &mut Records<'s>) {
    if wants(qtype, rtype::SOA) {
        out.push(Rr {
            owner: Owner::QName,
            ttl: zone.soa.ttl,
            data: RData::Soa(&zone.soa),
        });
    }
    if wants(qtype, rtype::NS) {
        out.extend(zone.ns.iter().map(|ns| Rr {
            owner: Owner::QName,
            ttl: zone.ns_ttl,
            data: RData::Ns(ns),
        }));
    }
    collect(qtype, found, out);
}

/// The records of the asked type among what the lookup found: one A per distinct
/// return code, one TXT per distinct text, each RRset with its smallest TTL
/// (RFC 2181 §5.2: an RRset has one TTL).
fn collect<'s>(qtype: u16, found: &FoundList<'s>, out: &mut Records<'s>) {
    let start = out.len();
    for item in found {
        let rr = match *item {
            Found::Listing {
                value,
                txt,
                ttl,
                subject,
            } => {
                if wants(qtype, rtype::A) {
                    push_unique(
                        out,
                        start,
                        Rr {
                            owner: Owner::QName,
                            ttl,
                            data: RData::A(value.a),
                        },
                    );
                }
                match txt {
                    Some(template) if wants(qtype, rtype::TXT) => Rr {
                        owner: Owner::QName,
                        ttl,
                        data: RData::Txt(Txt::Template(template, subject)),
                    },
                    _ => continue,
                }
            }
            Found::Record(record) => {
                if !wants(qtype, record.data.rtype()) {
                    continue;
                }
                let data = match &record.data {
                    RecordData::A(a) => RData::A(*a),
                    RecordData::Txt(text) => RData::Txt(Txt::Raw(text)),
                    RecordData::Mx(preference, host) => RData::Mx(*preference, host),
                };
                Rr {
                    owner: Owner::QName,
                    ttl: record.ttl,
                    data,
                }
            }
        };
        push_unique(out, start, rr);
    }
    // One TTL per RRset.
    for rtype in [rtype::A, rtype::TXT, rtype::MX] {
        let min = out[start..]
            .iter()
            .filter(|r| r.data.rtype() == rtype)
            .map(|r| r.ttl)
            .min();
        if let Some(min) = min {
            for rr in out[start..].iter_mut().filter(|r| r.data.rtype() == rtype) {
                rr.ttl = min;
            }
        }
    }
}

/// Adds `rr` unless an identical record is already there (an RRset has no duplicates).
fn push_unique<'s>(out: &mut Records<'s>, start: usize, rr: Rr<'s>) {
    let duplicate = out[start..]
        .iter()
        .any(|existing| same_data(&existing.data, &rr.data));
    if !duplicate {
        out.push(rr);
    }
}

fn same_data(a: &RData<'_>, b: &RData<'_>) -> bool {
    match (a, b) {
        (RData::A(x), RData::A(y)) => x == y,
        (RData::Txt(Txt::Template(t1, s1)), RData::Txt(Txt::Template(t2, s2))) => {
            (std::ptr::eq(*t1, *t2) || t1 == t2) && (s1 == s2 || !t1.has_subject())
        }
        (RData::Txt(Txt::Raw(x)), RData::Txt(Txt::Raw(y))) => x == y,
        (RData::Mx(p1, h1), RData::Mx(p2, h2)) => p1 == p2 && h1 == h2,
        _ => false,
    }
}

/// Writes the TXT text `txt` for a query named `qname` into `out`.
pub(crate) fn render_txt(txt: &Txt<'_>, qname: NameRef<'_>, out: &mut Vec<u8>) {
    match *txt {
        Txt::Raw(text) => out.extend_from_slice(text),
        Txt::Template(template, subject) => {
            if !template.has_subject() {
                template.render(&[], out);
                return;
            }
            let mut buf = SubjectBuf::default();
            let text = buf.write(subject, qname);
            template.render(text, out);
        }
    }
}

/// Formats a subject without allocating: an address or a name, presentation format.
struct SubjectBuf {
    bytes: [u8; 1024],
    len: usize,
}

impl Default for SubjectBuf {
    fn default() -> Self {
        SubjectBuf {
            bytes: [0; 1024],
            len: 0,
        }
    }
}

impl std::fmt::Write for SubjectBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl SubjectBuf {
    fn write(&mut self, subject: Subject, qname: NameRef<'_>) -> &[u8] {
        use std::fmt::Write;
        self.len = 0;
        let _ = match subject {
            Subject::Ip4(addr) => write!(self, "{}", std::net::Ipv4Addr::from(addr)),
            Subject::Ip6(addr) => write!(self, "{}", std::net::Ipv6Addr::from(addr)),
            Subject::Name { from, to } => {
                let part = qname.prefix(usize::from(to)).suffix(usize::from(from));
                crate::zone::name::write_presentation(part.wire(), self)
            }
            Subject::Address { from, to } => {
                let part = qname.prefix(usize::from(to)).suffix(usize::from(from));
                let mut labels = part.labels();
                let local = labels.next().unwrap_or_default();
                let local = String::from_utf8_lossy(local);
                let _ = write!(self, "{local}@");
                let domain = part.suffix(1);
                crate::zone::name::write_presentation(domain.wire(), self)
            }
        };
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::load::test_snapshot;
    use crate::zone::name::NameBuf;

    const NOW: i64 = 1_800_000_000;

    fn question(name: &str, qtype: u16) -> Question {
        Question {
            name: NameBuf::from_name(&Name::parse(name).unwrap()),
            qtype,
            qclass: CLASS_IN,
        }
    }

    fn client(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn a_of(answer: &Answer<'_>) -> Vec<[u8; 4]> {
        answer
            .answers
            .iter()
            .filter_map(|rr| match rr.data {
                RData::A(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    fn snapshot() -> Snapshot {
        test_snapshot(&[
            (
                "bl.test.zone",
                "$SOA 3600 ns1.bl.test. hostmaster.bl.test. 0 600 300 86400 60\n$NS 3600 ns1.bl.test.\n\
                 192.0.2.1 :2:first $\n192.0.2.1 :3:second\n192.0.2.0/24 :4:block\n\
                 198.51.100.1 :2:same\n198.51.100.1 :5:same\nspam.example :6:name $\n",
            ),
            ("acl.test/data.ip4set", ":7:hidden\n192.0.2.1\n"),
            ("acl.test/gen.generic", "www A 127.0.0.9\n"),
            (
                "acl.test/clients.acl",
                "127.0.0.2 :refuse\n127.0.0.3 :ignore\n127.0.0.4 :empty\n127.0.0.5 :8:forced $\n",
            ),
        ])
    }

    #[test]
    fn listed_names_answer_every_matching_entry_once() {
        let snapshot = snapshot();
        let answer = resolve(
            &snapshot,
            &question("1.2.0.192.bl.test", rtype::A),
            client(1),
            NOW,
        );
        assert_eq!(answer.rcode, rcode::NOERROR);
        assert!(answer.authoritative);
        assert_eq!(
            a_of(&answer),
            [[127, 0, 0, 2], [127, 0, 0, 3]],
            "the /32 beats the /24"
        );
        assert!(answer.authority.is_empty());
        // One TXT per distinct text: two entries with the same text give one record.
        let txt = resolve(
            &snapshot,
            &question("1.100.51.198.bl.test", rtype::TXT),
            client(1),
            NOW,
        );
        assert_eq!(txt.answers.len(), 1);
        let any = resolve(
            &snapshot,
            &question("1.100.51.198.bl.test", rtype::ANY),
            client(1),
            NOW,
        );
        assert_eq!(a_of(&any).len(), 2);
        assert_eq!(any.answers.len(), 3);
    }

    #[test]
    fn negative_answers_carry_the_soa_owned_by_the_apex() {
        let snapshot = snapshot();
        let absent = resolve(
            &snapshot,
            &question("9.9.9.9.bl.test", rtype::A),
            client(1),
            NOW,
        );
        assert_eq!(absent.rcode, rcode::NXDOMAIN);
        assert_eq!(absent.apex_skip, 4);
        let [soa] = &absent.authority[..] else {
            panic!("one SOA")
        };
        assert_eq!(soa.owner, Owner::Apex);
        assert_eq!(soa.ttl, 60, "the negative TTL: min(SOA TTL, minimum)");
        // An empty non-terminal and another type of a listed name: NODATA.
        for (name, qtype) in [
            ("0.192.bl.test", rtype::A),
            ("1.2.0.192.bl.test", rtype::MX),
        ] {
            let nodata = resolve(&snapshot, &question(name, qtype), client(1), NOW);
            assert_eq!(nodata.rcode, rcode::NOERROR, "{name}");
            assert!(nodata.answers.is_empty());
            assert_eq!(nodata.authority.len(), 1);
        }
        let apex = resolve(&snapshot, &question("bl.test", rtype::A), client(1), NOW);
        assert_eq!((apex.rcode, apex.answers.len()), (rcode::NOERROR, 0));
        let soa = resolve(&snapshot, &question("bl.test", rtype::SOA), client(1), NOW);
        assert!(matches!(soa.answers[0].data, RData::Soa(_)));
        let ns = resolve(&snapshot, &question("bl.test", rtype::NS), client(1), NOW);
        assert!(matches!(ns.answers[0].data, RData::Ns(_)));
    }

    #[test]
    fn what_is_refused_and_what_is_not_implemented() {
        let snapshot = snapshot();
        let outside = resolve(
            &snapshot,
            &question("example.org", rtype::A),
            client(1),
            NOW,
        );
        assert_eq!(outside.rcode, rcode::REFUSED);
        assert!(!outside.authoritative);
        let mut chaos = question("1.2.0.192.bl.test", rtype::A);
        chaos.qclass = 3;
        assert_eq!(
            resolve(&snapshot, &chaos, client(1), NOW).rcode,
            rcode::REFUSED
        );
        let mut any_class = question("1.2.0.192.bl.test", rtype::A);
        any_class.qclass = CLASS_ANY;
        let answer = resolve(&snapshot, &any_class, client(1), NOW);
        assert_eq!(
            (answer.rcode, answer.authoritative),
            (rcode::NOERROR, false)
        );
        for (qtype, code) in [
            (rtype::AXFR, rcode::REFUSED),
            (rtype::IXFR, rcode::REFUSED),
            (rtype::MAILB, rcode::NOTIMP),
            (rtype::TSIG, rcode::FORMERR),
        ] {
            let answer = resolve(&snapshot, &question("bl.test", qtype), client(1), NOW);
            assert_eq!(answer.rcode, code, "type {qtype}");
        }
    }

    #[test]
    fn acl_actions_per_client() {
        let snapshot = snapshot();
        let ask =
            |name: &str, who: u8| resolve(&snapshot, &question(name, rtype::A), client(who), NOW);
        let listed = "1.2.0.192.acl.test";
        assert_eq!(a_of(&ask(listed, 1)), [[127, 0, 0, 7]]);
        assert_eq!(ask(listed, 2).rcode, rcode::REFUSED);
        assert_eq!(ask(listed, 3).hold, Hold::NEVER);
        assert_eq!(ask(listed, 4).rcode, rcode::NXDOMAIN);
        assert_eq!(
            ask("2.0.192.acl.test", 4).rcode,
            rcode::NXDOMAIN,
            "no empty non-terminals"
        );
        assert_eq!(ask("2.0.192.acl.test", 1).rcode, rcode::NOERROR);
        assert_eq!(
            a_of(&ask("www.acl.test", 4)),
            [[127, 0, 0, 9]],
            "records stay"
        );
        assert_eq!(
            a_of(&ask("9.9.9.9.acl.test", 5)),
            [[127, 0, 0, 8]],
            "forced"
        );
        assert_eq!(
            ask("2.0.192.acl.test", 5).rcode,
            rcode::NOERROR,
            "not a whole address"
        );
    }

    #[test]
    fn located_and_unlocated_answers_agree() {
        let snapshot = snapshot();
        for name in ["1.2.0.192.bl.test", "9.9.9.9.bl.test", "x.org"] {
            let q = question(name, rtype::A);
            let direct = resolve(&snapshot, &q, client(1), NOW);
            let located = resolve_located(snapshot.locate(q.name.view()), &q, client(1), NOW);
            assert_eq!(
                (direct.rcode, direct.answers.len()),
                (located.rcode, located.answers.len())
            );
        }
    }
}
