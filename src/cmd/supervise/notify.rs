//! The `./notify` queue, free of I/O: at most one `./notify` runs; events
//! that happen meanwhile are folded into one pending call (the latest
//! event) and counted; a run that outlives its limit is killed.
//!
//! So a crash loop costs at most one `./notify` at a time, and a `./notify`
//! that hangs delays neither restarts nor later notifications by more than
//! its limit.

/// Which script an event is about (encore's first argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Run,
    Finish,
}

impl Script {
    pub fn name(self) -> &'static str {
        match self {
            Script::Run => "run",
            Script::Finish => "finish",
        }
    }
}

/// What happened (encore's second argument; `failed` is ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Start,
    Exit,
    Killed,
    /// Permanent failure: `./finish` exited 125.
    Failed,
    /// Every readiness source of the run said ready.
    Ready,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Exit => "exit",
            Kind::Killed => "killed",
            Kind::Failed => "failed",
            Kind::Ready => "ready",
        }
    }
}

/// One notification: `./notify SCRIPT EVENT PID CODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub script: Script,
    pub kind: Kind,
    pub pid: u32,
    /// Exit code, signal number, 0 on start, 125 on failed.
    pub code: i32,
}

/// A call to make now: the event and how many earlier events it stands
/// for besides itself (`NOTIFY_COALESCED`).
pub type Call = (Event, u32);

#[derive(Debug, Default)]
pub struct Notifier {
    /// pid of the running `./notify` and when to kill it (ms; None once
    /// the kill was sent).
    running: Option<(u32, Option<u64>)>,
    pending: Option<Event>,
    /// Events dropped in favour of `pending`.
    coalesced: u32,
}

impl Notifier {
    /// An event happened; returns the call to make now, if none runs.
    pub fn push(&mut self, ev: Event) -> Option<Call> {
        if self.running.is_none() && self.pending.is_none() {
            return Some((ev, 0));
        }
        if self.pending.replace(ev).is_some() {
            self.coalesced = self.coalesced.saturating_add(1);
        }
        None
    }

    /// `./notify` was forked as `pid`; kill it at `kill_at` (ms).
    pub fn spawned(&mut self, pid: u32, kill_at: u64) {
        self.running = Some((pid, Some(kill_at)));
    }

    pub fn is(&self, pid: u32) -> bool {
        matches!(self.running, Some((p, _)) if p == pid)
    }

    /// The running `./notify` ended (or could not be forked): the next
    /// call, if one is pending.
    pub fn ended(&mut self) -> Option<Call> {
        self.running = None;
        let ev = self.pending.take()?;
        Some((ev, std::mem::take(&mut self.coalesced)))
    }

    /// The pid to kill now, if the running `./notify` is past its limit
    /// (returned once).
    pub fn overdue(&mut self, now: u64) -> Option<u32> {
        match &mut self.running {
            Some((pid, at)) if at.is_some_and(|t| t <= now) => {
                *at = None;
                Some(*pid)
            }
            _ => None,
        }
    }

    pub fn deadline(&self) -> Option<u64> {
        self.running.and_then(|(_, at)| at)
    }

    /// Something runs or waits to run.
    pub fn busy(&self) -> bool {
        self.running.is_some() || self.pending.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, pid: u32) -> Event {
        Event {
            script: Script::Run,
            kind,
            pid,
            code: 0,
        }
    }

    #[test]
    fn one_at_a_time_latest_wins_and_is_counted() {
        let mut n = Notifier::default();
        assert_eq!(n.push(ev(Kind::Start, 1)), Some((ev(Kind::Start, 1), 0)));
        n.spawned(100, 10_000);
        assert!(n.busy() && n.is(100) && !n.is(1));
        assert_eq!(n.push(ev(Kind::Exit, 1)), None);
        assert_eq!(n.push(ev(Kind::Start, 2)), None);
        assert_eq!(n.push(ev(Kind::Killed, 2)), None);
        assert_eq!(n.ended(), Some((ev(Kind::Killed, 2), 2)));
        n.spawned(101, 20_000);
        assert_eq!(n.ended(), None);
        assert!(!n.busy());
        // idle again: the next event runs at once, count 0
        assert_eq!(n.push(ev(Kind::Start, 3)), Some((ev(Kind::Start, 3), 0)));
    }

    #[test]
    fn overdue_once_then_waits_for_the_reap() {
        let mut n = Notifier::default();
        n.push(ev(Kind::Start, 1));
        n.spawned(100, 500);
        assert_eq!(n.deadline(), Some(500));
        assert_eq!(n.overdue(499), None);
        assert_eq!(n.overdue(500), Some(100));
        assert_eq!(n.overdue(10_000), None);
        assert_eq!(n.deadline(), None);
        assert!(n.busy());
        assert_eq!(n.push(ev(Kind::Exit, 1)), None);
        assert_eq!(n.ended(), Some((ev(Kind::Exit, 1), 0)));
    }

    #[test]
    fn a_failed_fork_moves_on() {
        let mut n = Notifier::default();
        assert!(n.push(ev(Kind::Start, 1)).is_some());
        // fork failed: nothing runs, nothing pending
        assert_eq!(n.ended(), None);
        assert!(!n.busy());
    }
}
