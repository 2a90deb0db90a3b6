//! `supervise/summary`: the 18-byte status and what svstat --json, svstat
//! --prometheus and svmetrics report of the lifecycle record, in 64 fixed
//! bytes, so that they read one small file per directory instead of two
//! (one of them a JSON text: reading that costs a couple of thousand
//! instructions, most of a scrape of a large tree; this, a few dozen).
//!
//! supervise writes it after `status` and `status.json`, at each of their
//! writes, through `summary.new` + rename (never seen half-written), with
//! the very 18 bytes it wrote to `status`. When it cannot write it, it
//! removes it. So a summary, when there is one, is what `status` and
//! `status.json` said at their last write or the one before (a reader
//! between the writes), never something older. A reader that finds none,
//! or one it cannot read, reads `status` and `status.json` as before:
//! what is reported never depends on it. Like them, it is believed only
//! while a supervise holds `supervise/ok` open.
//!
//! Layout (integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0-7 | magic `dtrsSUM1` |
//! | 8-25 | the 18 bytes of `status` |
//! | 26 | `state`: 0 up, 1 down, 2 finishing, 3 waiting |
//! | 27 | `want`: 0 up, 1 down, 2 once |
//! | 28 | flags: 1 ready, 2 has readiness sources, 4 has a last exit, 8 it was a signal, 16 core dumped, 32 watchdog |
//! | 29 | `ready_error`: 0 none, 1 check-timeout, 2 fd-closed |
//! | 30-31 | zero |
//! | 32-39 | `starts` |
//! | 40-43 | last exit: pid |
//! | 44-47 | last exit: code or signal number (signed) |
//! | 48-55, 56-59 | last exit: `at` (TAI64N label seconds, nanoseconds) |
//! | 60-63 | zero |
//!
//! Every byte has one meaning: a file with any other value anywhere (an
//! unknown code or flag, nanoseconds past 10^9, last-exit bytes without a
//! last exit, reserved bytes not zero) or of any other length is not a
//! summary.

use super::{Ending, Exit, ReadyError, Record, State};
use crate::status::{self, Status, Want};
use crate::tai64::Tai64n;

/// The file's name inside the state directory.
pub const NAME: &str = "summary";
/// Its exact length.
pub const LEN: usize = 64;
const MAGIC: &[u8; 8] = b"dtrsSUM1";

const READY: u8 = 1;
const SOURCES: u8 = 2;
const EXITED: u8 = 4;
const SIGNALED: u8 = 8;
const CORE: u8 = 16;
const WATCHDOG: u8 = 32;
const FLAGS: u8 = 63;

const STATES: [State; 4] = [State::Up, State::Down, State::Finishing, State::Waiting];
const WANTS: [Want; 3] = [Want::Up, Want::Down, Want::Once];
const READY_ERRORS: [ReadyError; 2] = [ReadyError::CheckTimeout, ReadyError::FdClosed];

/// What the machine-readable outputs take from the lifecycle record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The 18-byte record written with it.
    pub status: Status,
    pub state: State,
    pub want: Want,
    pub starts: u64,
    /// The current run became ready (`Record::ready` is set).
    pub ready: bool,
    /// The current run has readiness sources.
    pub has_sources: bool,
    pub ready_error: Option<ReadyError>,
    pub last_exit: Option<Exit>,
}

impl Summary {
    /// The summary of `r`, written with `status`.
    pub fn new(r: &Record, status: Status) -> Summary {
        Summary {
            status,
            state: r.state,
            want: r.want,
            starts: r.starts,
            ready: r.ready.is_some(),
            has_sources: !r.ready_sources.is_empty(),
            ready_error: r.ready_error,
            last_exit: r.last_exit,
        }
    }
}

fn code<T: PartialEq>(all: &[T], v: &T) -> u8 {
    all.iter().position(|x| x == v).unwrap_or(0) as u8
}

fn u32_at(b: &[u8; LEN], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8; LEN], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl Summary {
    /// The file's bytes.
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..8].copy_from_slice(MAGIC);
        b[8..26].copy_from_slice(&self.status.encode());
        b[26] = code(&STATES, &self.state);
        b[27] = code(&WANTS, &self.want);
        let mut flags = 0;
        if self.ready {
            flags |= READY;
        }
        if self.has_sources {
            flags |= SOURCES;
        }
        b[29] = self.ready_error.map_or(0, |e| code(&READY_ERRORS, &e) + 1);
        b[32..40].copy_from_slice(&self.starts.to_le_bytes());
        if let Some(e) = &self.last_exit {
            flags |= EXITED;
            let n = match e.ending {
                Ending::Code(c) => c,
                Ending::Signal(s) => {
                    flags |= SIGNALED;
                    s
                }
            };
            if e.core_dumped {
                flags |= CORE;
            }
            if e.watchdog {
                flags |= WATCHDOG;
            }
            b[40..44].copy_from_slice(&e.pid.to_le_bytes());
            b[44..48].copy_from_slice(&n.to_le_bytes());
            b[48..56].copy_from_slice(&e.at.secs.to_le_bytes());
            b[56..60].copy_from_slice(&e.at.nano.to_le_bytes());
        }
        b[28] = flags;
        b
    }

    /// The summary in `bytes`, if they are one (see the module's doc).
    pub fn decode(bytes: &[u8]) -> Option<Summary> {
        let b: &[u8; LEN] = bytes.try_into().ok()?;
        if &b[..8] != MAGIC || b[30] != 0 || b[31] != 0 || u32_at(b, 60) != 0 {
            return None;
        }
        let flags = b[28];
        if flags & !FLAGS != 0 {
            return None;
        }
        let last_exit = if flags & EXITED != 0 {
            let n = u32_at(b, 44) as i32;
            let nano = u32_at(b, 56);
            if nano >= 1_000_000_000 {
                return None;
            }
            Some(Exit {
                pid: u32_at(b, 40),
                ending: if flags & SIGNALED != 0 {
                    Ending::Signal(n)
                } else {
                    Ending::Code(n)
                },
                core_dumped: flags & CORE != 0,
                at: Tai64n {
                    secs: u64_at(b, 48),
                    nano,
                },
                watchdog: flags & WATCHDOG != 0,
            })
        } else if flags & (SIGNALED | CORE | WATCHDOG) != 0
            || u64_at(b, 40) | u64_at(b, 48) | u64::from(u32_at(b, 56)) != 0
        {
            return None;
        } else {
            None
        };
        let ready_error = match b[29] {
            0 => None,
            n => Some(*READY_ERRORS.get(usize::from(n) - 1)?),
        };
        let mut st = [0u8; status::LEN];
        st.copy_from_slice(&b[8..26]);
        Some(Summary {
            status: Status::decode(&st),
            state: *STATES.get(usize::from(b[26]))?,
            want: *WANTS.get(usize::from(b[27]))?,
            starts: u64_at(b, 32),
            ready: flags & READY != 0,
            has_sources: flags & SOURCES != 0,
            ready_error,
            last_exit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exit(ending: Ending, core_dumped: bool, watchdog: bool) -> Exit {
        Exit {
            pid: 4242,
            ending,
            core_dumped,
            at: Tai64n {
                secs: 0x4000_0000_6553_f100,
                nano: 999_999_999,
            },
            watchdog,
        }
    }

    fn sample() -> Summary {
        let r = crate::record::sample();
        Summary::new(&r, r.status())
    }

    #[test]
    fn a_summary_is_what_its_record_says() {
        let mut r = crate::record::sample();
        r.ready = Some(r.since);
        r.ready_sources.check = true;
        r.ready_error = Some(ReadyError::FdClosed);
        r.last_exit = Some(exit(Ending::Signal(9), true, false));
        let s = Summary::new(&r, r.status());
        assert_eq!((s.status, s.state, s.want), (r.status(), r.state, r.want));
        assert_eq!(s.starts, r.starts);
        assert!(s.ready && s.has_sources);
        assert_eq!(s.ready_error, Some(ReadyError::FdClosed));
        assert_eq!(s.last_exit, r.last_exit);
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let mut s = sample();
        s.status = Status {
            stamp: Tai64n {
                secs: 0x4000_0000_0102_0304,
                nano: 5,
            },
            pid: 0x0a0b_0c0d,
            paused: 1,
            want: b'u',
        };
        s.starts = 7;
        s.state = State::Finishing;
        s.want = Want::Once;
        s.ready = false;
        s.has_sources = true;
        s.ready_error = Some(ReadyError::CheckTimeout);
        s.last_exit = Some(exit(Ending::Code(-2), false, true));
        let b = s.encode();
        assert_eq!(&b[..8], b"dtrsSUM1");
        assert_eq!(&b[8..26], &s.status.encode());
        assert_eq!(&b[26..32], &[2, 2, 2 | 4 | 32, 1, 0, 0]);
        assert_eq!(&b[32..40], &[7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[40..48], &[0x92, 0x10, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
        assert_eq!(&b[48..56], &0x4000_0000_6553_f100u64.to_le_bytes());
        assert_eq!(&b[56..60], &999_999_999u32.to_le_bytes());
        assert_eq!(&b[60..], &[0; 4]);
        assert_eq!(Summary::decode(&b), Some(s));
    }

    #[test]
    fn every_form_reads_back() {
        let endings = [Ending::Code(0), Ending::Code(111), Ending::Signal(15)];
        let errors = [
            None,
            Some(ReadyError::CheckTimeout),
            Some(ReadyError::FdClosed),
        ];
        for state in STATES {
            for want in WANTS {
                for ready_error in errors {
                    for e in endings {
                        let exits = [None, Some(exit(e, true, true)), Some(exit(e, false, false))];
                        for last_exit in exits {
                            let s = Summary {
                                state,
                                want,
                                ready_error,
                                last_exit,
                                ready: last_exit.is_some(),
                                has_sources: ready_error.is_some(),
                                ..sample()
                            };
                            assert_eq!(Summary::decode(&s.encode()), Some(s));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn anything_else_is_no_summary() {
        let good = Summary {
            last_exit: None,
            ..sample()
        }
        .encode();
        let bad = |at: usize, v: u8| {
            let mut b = good;
            b[at] = v;
            Summary::decode(&b)
        };
        assert!(Summary::decode(&good).is_some());
        assert_eq!(Summary::decode(&good[..63]), None);
        assert_eq!(Summary::decode(&[good.as_slice(), &[0]].concat()), None);
        assert_eq!(bad(0, b'x'), None, "magic");
        assert_eq!(bad(26, 4), None, "state");
        assert_eq!(bad(27, 3), None, "want");
        assert_eq!(bad(28, 64), None, "flag");
        assert_eq!(bad(28, SIGNALED), None, "signal without an exit");
        assert_eq!(bad(29, 3), None, "ready error");
        assert_eq!(bad(31, 1), None, "reserved");
        assert_eq!(bad(44, 1), None, "exit bytes without an exit");
        assert_eq!(bad(63, 1), None, "reserved");
        let mut b = Summary {
            last_exit: Some(exit(Ending::Code(1), false, false)),
            ..sample()
        }
        .encode();
        b[59] = 0x80;
        assert_eq!(Summary::decode(&b), None, "exit nanoseconds");
    }

    proptest! {
        /// Whatever 64 bytes hold, they read as nothing or as a summary
        /// that writes them back exactly.
        #[test]
        fn a_summary_read_writes_back_its_bytes(
            bytes in proptest::collection::vec(any::<u8>(), LEN),
            no_exit in any::<bool>(),
        ) {
            // mostly near a summary, so that many of them are one
            let mut b = bytes;
            b[..8].copy_from_slice(MAGIC);
            b[30..32].fill(0);
            b[60..].fill(0);
            b[59] &= 0x3f;
            (b[26], b[27], b[28], b[29]) = (b[26] % 5, b[27] % 4, b[28] & 0x7f, b[29] % 4);
            if no_exit {
                b[28] &= READY | SOURCES;
                b[40..60].fill(0);
            }
            if let Some(s) = Summary::decode(&b) {
                prop_assert_eq!(s.encode().to_vec(), b);
            }
        }
    }
}
