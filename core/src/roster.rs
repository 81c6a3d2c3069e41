//! The nicks of the joined users, indexed for lookup and for uniqueness.
//!
//! # Invariants
//! - `by_fold` maps each joined user's [`fold`]ed nick to it, and
//!   `by_look` each of its look-alike keys ([`nick::looks`]); nothing else.
//! - No two users share a key of either map: a nick is admitted only by
//!   [`Roster::check_free`], which refuses any key already held by someone
//!   else, so removing a user's keys never removes another's.
//! - When `by_member` is kept (a clustered room looks users up by id), it
//!   maps each joined user to its folded nick, and nothing else; otherwise
//!   it is empty.

use crate::io::ConnId;
use crate::nick::{self, fold, NickError, NickKeys};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A server of the room, as this room numbers them: [`NodeIx::LOCAL`] is
/// this one (the only one of a room that is not clustered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NodeIx(pub(crate) u32);

impl NodeIx {
    /// This server.
    pub(crate) const LOCAL: NodeIx = NodeIx(0);
}

/// A user of the room: its server and that server's connection id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Member {
    pub(crate) node: NodeIx,
    pub(crate) conn: ConnId,
}

impl Member {
    /// A user of this server.
    pub(crate) fn local(conn: ConnId) -> Self {
        Member {
            node: NodeIx::LOCAL,
            conn,
        }
    }

    /// Its connection, if it is a user of this server.
    pub(crate) fn local_conn(self) -> Option<ConnId> {
        (self.node == NodeIx::LOCAL).then_some(self.conn)
    }
}

/// A joined user, its nick as shown, and that nick's look-alike keys.
type Entry = (Member, Arc<str>, Box<[String; 2]>);

/// The joined users' nicks.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    /// Folded nick → its user, the nick as shown, and its look-alike keys
    /// (boxed: the online list walks this map, and they are rarely read).
    by_fold: BTreeMap<String, Entry>,
    /// Look-alike key → its user and the nick as shown.
    by_look: BTreeMap<String, (Member, Arc<str>)>,
    /// User → its folded nick, if `keep_members`.
    by_member: BTreeMap<Member, String>,
    keep_members: bool,
}

impl Roster {
    /// A roster that also finds users by id ([`nick_of`](Roster::nick_of),
    /// [`members_of`](Roster::members_of)).
    pub(crate) fn by_member() -> Self {
        Roster {
            keep_members: true,
            ..Roster::default()
        }
    }

    /// How many users are joined.
    pub(crate) fn len(&self) -> usize {
        self.by_fold.len()
    }

    /// Every joined user and its nick, ordered by nick ignoring case.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Member, &Arc<str>)> + '_ {
        self.by_fold
            .values()
            .map(|(member, nick, _)| (*member, nick))
    }

    /// The user whose nick is `nick` ignoring case, and its nick as shown.
    pub(crate) fn get(&self, nick: &str) -> Option<(Member, Arc<str>)> {
        let (member, shown, _) = self.by_fold.get(&fold(nick))?;
        Some((*member, shown.clone()))
    }

    /// The nick of `member`, if it is joined.
    pub(crate) fn nick_of(&self, member: Member) -> Option<&Arc<str>> {
        let folded = self.by_member.get(&member)?;
        self.by_fold.get(folded).map(|(_, nick, _)| nick)
    }

    /// Every joined user of server `node`.
    pub(crate) fn members_of(&self, node: NodeIx) -> Vec<Member> {
        let from = Member {
            node,
            conn: ConnId(0),
        };
        self.by_member
            .range(from..)
            .map(|(member, _)| *member)
            .take_while(|member| member.node == node)
            .collect()
    }

    /// `Ok` if no joined user but `except` has the nick with these `keys`
    /// (ignoring case) or a nick that looks like it.
    pub(crate) fn check_free(
        &self,
        keys: &NickKeys,
        except: Option<Member>,
    ) -> Result<(), NickError> {
        if let Some((owner, _, _)) = self.by_fold.get(&keys.folded) {
            if Some(*owner) != except {
                return Err(NickError::Taken);
            }
        }
        for key in &keys.looks {
            if let Some((owner, shown)) = self.by_look.get(key) {
                if Some(*owner) != except {
                    return Err(NickError::TooSimilar(shown.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Checks `nick` ([`nick::validate`]) and that it is free for `except`
    /// ([`check_free`](Roster::check_free)); its keys, to
    /// [`insert`](Roster::insert) it with.
    pub(crate) fn admit(&self, nick: &str, except: Option<Member>) -> Result<NickKeys, NickError> {
        let keys = nick::validate(nick)?;
        self.check_free(&keys, except)?;
        Ok(keys)
    }

    /// Adds `member` as `nick` with its `keys`, which
    /// [`check_free`](Roster::check_free) admitted.
    pub(crate) fn insert(&mut self, member: Member, nick: Arc<str>, keys: NickKeys) {
        for key in &keys.looks {
            self.by_look.insert(key.clone(), (member, nick.clone()));
        }
        if self.keep_members {
            self.by_member.insert(member, keys.folded.clone());
        }
        self.by_fold
            .insert(keys.folded, (member, nick, Box::new(keys.looks)));
    }

    /// Removes the user joined as `nick` (ignoring case).
    pub(crate) fn remove(&mut self, nick: &str) {
        let Some((member, _, looks)) = self.by_fold.remove(&fold(nick)) else {
            return;
        };
        self.by_member.remove(&member);
        for key in *looks {
            if self
                .by_look
                .get(&key)
                .is_some_and(|(owner, _)| *owner == member)
            {
                self.by_look.remove(&key);
            }
        }
    }

    /// Forgets everyone.
    pub(crate) fn clear(&mut self) {
        self.by_fold.clear();
        self.by_look.clear();
        self.by_member.clear();
    }

    /// Whether the invariants hold: each user's keys, and nothing else,
    /// in both maps, and each key is what its nick folds and looks like
    /// today. O(users), with allocations: for checks only.
    pub(crate) fn is_consistent(&self) -> bool {
        self.indexes_agree() && self.keys_are_current()
    }

    /// Whether each user's stored keys, and nothing else, are in both maps.
    /// O(users), without computing a key: cheap enough to check after every
    /// input of a room of hundreds in a debug build.
    pub(crate) fn indexes_agree(&self) -> bool {
        let mut keys = 0;
        if self.by_member.len()
            != if self.keep_members {
                self.by_fold.len()
            } else {
                0
            }
        {
            return false;
        }
        for (folded, (member, _, looks)) in &self.by_fold {
            if self.keep_members && self.by_member.get(member) != Some(folded) {
                return false;
            }
            let mut own = looks.to_vec();
            own.dedup();
            keys += own.len();
            if !own.iter().all(|key| {
                self.by_look
                    .get(key)
                    .is_some_and(|(owner, _)| owner == member)
            }) {
                return false;
            }
        }
        keys == self.by_look.len()
    }

    /// Gives `nick`'s user other look-alike keys, in both maps, as a rule
    /// changed under a running room would: the indexes agree, the keys are
    /// stale.
    #[cfg(test)]
    pub(crate) fn make_keys_stale(&mut self, nick: &str) {
        let Some((member, shown, looks)) = self.by_fold.get_mut(&fold(nick)) else {
            return;
        };
        for (i, key) in looks.iter_mut().enumerate() {
            self.by_look.remove(key);
            *key = format!("stale {i}");
            self.by_look.insert(key.clone(), (*member, shown.clone()));
        }
    }

    /// Whether every user's keys are the ones its shown nick gives: its
    /// fold, and its look-alike skeletons. O(users) key computations, each
    /// of them Unicode normalisation: the costly half of the check.
    fn keys_are_current(&self) -> bool {
        self.by_fold.iter().all(|(folded, (_, shown, looks))| {
            *folded == fold(shown) && **looks == nick::looks(shown)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(nick: &str) -> NickKeys {
        NickKeys {
            folded: fold(nick),
            looks: nick::looks(nick),
        }
    }

    fn roster(nicks: &[&str]) -> Roster {
        let mut roster = Roster::default();
        for (i, nick) in nicks.iter().enumerate() {
            assert_eq!(roster.check_free(&keys(nick), None), Ok(()), "{nick}");
            roster.insert(Member::local(ConnId(i as u64)), (*nick).into(), keys(nick));
        }
        assert!(roster.is_consistent());
        roster
    }

    /// `roster(nicks)`, keeping members too.
    fn roster_by_member(nicks: &[&str]) -> Roster {
        let mut roster = Roster::by_member();
        for (i, nick) in nicks.iter().enumerate() {
            roster.insert(Member::local(ConnId(i as u64)), (*nick).into(), keys(nick));
        }
        assert!(roster.is_consistent());
        roster
    }

    /// Each way the indexes can disagree is seen by `is_consistent`.
    #[test]
    fn every_disagreement_between_the_indexes_is_seen() {
        type Break = fn(&mut Roster);
        let breaks: [Break; 6] = [
            |r| {
                r.by_member.insert(Member::local(ConnId(9)), "ghost".into());
            },
            |r| {
                let entry = r.by_fold.remove("alice");
                if let Some(entry) = entry {
                    r.by_fold.insert("alicia".into(), entry);
                }
            },
            |r| {
                if let Some(entry) = r.by_fold.get_mut("alice") {
                    *entry.2 = nick::looks("bob");
                }
            },
            |r| {
                r.by_member.insert(Member::local(ConnId(0)), "bob".into());
            },
            |r| {
                let bob = Member::local(ConnId(1));
                for (owner, _) in r.by_look.values_mut() {
                    *owner = bob;
                }
            },
            |r| {
                r.by_look
                    .insert("ghost".into(), (Member::local(ConnId(0)), "alice".into()));
            },
        ];
        for (i, break_it) in breaks.into_iter().enumerate() {
            // Without the member index too, where the break allows, so
            // that no other check sees it first.
            let mut r = roster_by_member(&["alice", "bob"]);
            break_it(&mut r);
            assert!(!r.is_consistent(), "break {i} unseen");
            if ![0, 3].contains(&i) {
                let mut r = roster(&["alice", "bob"]);
                break_it(&mut r);
                assert!(!r.is_consistent(), "break {i} unseen without members");
            }
        }
    }

    #[test]
    fn a_taken_nick_and_a_look_alike_are_refused() {
        let roster = roster(&["alice", "ape"]);
        assert_eq!(
            roster.check_free(&keys("ALICE"), None),
            Err(NickError::Taken)
        );
        assert_eq!(
            roster.check_free(&keys("aIice"), None),
            Err(NickError::TooSimilar("alice".into()))
        );
        assert_eq!(
            roster.check_free(&keys("\u{410}\u{420}\u{415}"), None),
            Err(NickError::TooSimilar("ape".into()))
        );
        assert_eq!(roster.check_free(&keys("alicia"), None), Ok(()));
    }

    #[test]
    fn a_user_may_take_a_look_alike_of_its_own_nick() {
        let roster = roster(&["alice"]);
        assert_eq!(
            roster.check_free(&keys("aIice"), Some(Member::local(ConnId(0)))),
            Ok(())
        );
        assert_eq!(
            roster.check_free(&keys("Alice"), Some(Member::local(ConnId(0)))),
            Ok(())
        );
    }

    #[test]
    fn removing_frees_every_key() {
        let mut roster = roster(&["aIice", "bob"]);
        roster.remove("AIICE");
        assert!(roster.is_consistent());
        assert_eq!(roster.check_free(&keys("alice"), None), Ok(()));
        assert_eq!(roster.len(), 1);
        roster.clear();
        assert!(roster.is_consistent());
        assert_eq!(roster.len(), 0);
    }
}
