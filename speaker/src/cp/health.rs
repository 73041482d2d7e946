//! The health gate of the control-plane VIP: turns the local kube-apiserver's `/readyz` probe
//! results into "candidate for the VIP" or not, with hysteresis (HAProxy's and keepalived's
//! `rise`/`fall` counters): `fall` consecutive failures withdraw a candidate node, `rise`
//! consecutive successes make a withdrawn node a candidate again. A *refused* connection
//! withdraws a candidate at once: nothing listens on the port, so the API server process is
//! gone (crashed, killed, restarting) — a fact, not a symptom of load that `fall` smooths out
//! (a slow or overloaded server times out or answers non-200, and those count against `fall`). A node starts withdrawn, so
//! it never claims the VIP before its API server has answered `rise` times (before `kubeadm
//! init` has started it, nobody claims the VIP). Pure: no clock, no I/O; the prober
//! ([`super::probe`]) feeds it.

/// Whether the node is a candidate for the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The local API server is healthy: take part in the election.
    Candidate,
    /// The local API server is not (yet) healthy: do not take part.
    Withdrawn,
}

/// A change of [`State`] caused by one probe result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// `rise` consecutive successes while withdrawn.
    BecameCandidate,
    /// `fall` consecutive failures while a candidate.
    Withdrew,
}

/// The rise/fall counter.
#[derive(Debug, Clone)]
pub struct HealthGate {
    rise: u32,
    fall: u32,
    state: State,
    /// Consecutive results that argue against the current state.
    streak: u32,
}

impl HealthGate {
    /// A withdrawn gate; `rise` and `fall` are at least 1 (0 is taken as 1).
    pub fn new(rise: u32, fall: u32) -> Self {
        Self {
            rise: rise.max(1),
            fall: fall.max(1),
            state: State::Withdrawn,
            streak: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Applies one probe result (`true`: `/readyz` answered 200 in time).
    pub fn observe(&mut self, healthy: bool) -> Option<Transition> {
        let (against, needed) = match self.state {
            State::Candidate => (!healthy, self.fall),
            State::Withdrawn => (healthy, self.rise),
        };
        if !against {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak < needed {
            return None;
        }
        self.streak = 0;
        Some(self.flip())
    }

    /// Applies a refused connection: a candidate withdraws at once (see the module docs); a
    /// withdrawn node just restarts its `rise` count.
    pub fn refused(&mut self) -> Option<Transition> {
        self.streak = 0;
        match self.state {
            State::Candidate => Some(self.flip()),
            State::Withdrawn => None,
        }
    }

    fn flip(&mut self) -> Transition {
        match self.state {
            State::Candidate => {
                self.state = State::Withdrawn;
                Transition::Withdrew
            }
            State::Withdrawn => {
                self.state = State::Candidate;
                Transition::BecameCandidate
            }
        }
    }
}

#[cfg(test)]
mod tests;
