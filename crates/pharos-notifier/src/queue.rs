//! The bounded queue of alerts waiting to be sent.
//!
//! When it is full the oldest alerts make room for the newest, as in Prometheus: alerting
//! rules resend firing alerts on every evaluation, so a newer copy supersedes an older one and
//! dropping from the front loses the least.

use std::collections::VecDeque;

use crate::alert::Alert;

/// Alerts waiting to be sent, at most `capacity` of them.
#[derive(Debug)]
pub struct AlertQueue {
    alerts: VecDeque<Alert>,
    capacity: usize,
}

impl AlertQueue {
    /// An empty queue holding at most `capacity` alerts (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        AlertQueue {
            alerts: VecDeque::new(),
            capacity,
        }
    }

    /// How many alerts the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many alerts are waiting.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Whether no alert is waiting.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Appends `alerts`, dropping the oldest alerts (queued ones first, then the front of
    /// `alerts` itself if it alone exceeds the capacity). Returns how many were dropped.
    pub fn push(&mut self, alerts: Vec<Alert>) -> usize {
        let mut dropped = 0;
        let mut incoming = alerts.into_iter();
        let excess = incoming.len().saturating_sub(self.capacity);
        if excess > 0 {
            dropped += excess;
            incoming.nth(excess - 1);
        }
        let overflow = (self.alerts.len() + incoming.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            dropped += overflow;
            self.alerts.drain(..overflow);
        }
        self.alerts.extend(incoming);
        dropped
    }

    /// Removes and returns up to `max` of the oldest alerts.
    pub fn take_batch(&mut self, max: usize) -> Vec<Alert> {
        let n = self.alerts.len().min(max.max(1));
        self.alerts.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::Labels;

    fn alert(i: usize) -> Alert {
        Alert {
            labels: Labels::from_pairs([("alertname", format!("a{i}"))]),
            annotations: Labels::empty(),
            starts_at_ms: 0,
            ends_at_ms: 0,
            generator_url: String::new(),
        }
    }

    fn names(v: &[Alert]) -> Vec<String> {
        v.iter()
            .map(|a| a.name().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn batches_are_bounded_and_in_order() {
        let mut q = AlertQueue::new(100);
        assert_eq!(q.push((0..150).map(alert).collect()), 50);
        assert_eq!(q.len(), 100);
        let b = q.take_batch(64);
        assert_eq!(b.len(), 64);
        assert_eq!(b.first().and_then(|a| a.name()), Some("a50"));
        let b = q.take_batch(64);
        assert_eq!(b.len(), 36);
        assert_eq!(b.last().and_then(|a| a.name()), Some("a149"));
        assert!(q.take_batch(64).is_empty());
    }

    #[test]
    fn overflow_drops_the_oldest() {
        let mut q = AlertQueue::new(3);
        assert_eq!(q.push(vec![alert(1), alert(2)]), 0);
        assert_eq!(q.push(vec![alert(3), alert(4)]), 1);
        assert_eq!(names(&q.take_batch(10)), ["a2", "a3", "a4"]);
        assert_eq!(q.push((0..5).map(alert).collect()), 2);
        assert_eq!(names(&q.take_batch(10)), ["a2", "a3", "a4"]);
        assert!(q.is_empty());
    }
}
