//! A scenario's report: the checker's findings plus the figures of the run (latencies, convergence
//! after each fault, the longest stretch without an acknowledged write, NATS elections), as JSON and as
//! a table.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checker::CheckResult;
use crate::faults::FaultRecord;
use crate::load::{Op, OpKind, Outcome};

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Operations counted.
    pub n: usize,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

/// Everything one scenario produced.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// The scenario.
    pub scenario: String,
    /// Its seed (replays the same schedule).
    pub seed: u64,
    /// Seconds of load.
    pub duration_s: f64,
    /// When it started (UTC).
    pub started_at: String,
    /// A checker self-test: the checker must fail it.
    pub expected_to_fail: bool,
    /// Whether the checker found nothing (for a self-test: whether it wrongly found nothing).
    pub passed: bool,
    /// Whether the outcome is the expected one (passed, or failed for a self-test).
    pub as_expected: bool,
    /// Record-set operations sent.
    pub ops_sent: usize,
    /// Operations refused with a 4xx (not retried).
    pub ops_refused: usize,
    /// The checker's findings.
    pub check: CheckResult,
    /// Faults applied, by kind.
    pub faults_by_kind: BTreeMap<String, usize>,
    /// Every fault.
    pub faults: Vec<FaultRecord>,
    /// Per fault: seconds from its heal until both secondaries served the read model's serials (None: not
    /// within the deadline).
    pub convergence_after_fault_s: Vec<Option<f64>>,
    /// The largest of those.
    pub max_convergence_after_fault_s: Option<f64>,
    /// Write latency of every acknowledged record-set operation.
    pub write_latency: Latency,
    /// Write latency of acknowledged operations that overlapped a fault.
    pub write_latency_during_faults: Latency,
    /// The longest stretch, starting within a fault, without any acknowledged write (seconds).
    pub max_write_gap_s: Option<f64>,
    /// The longest time any NATS fault left the event stream without a reachable leader (seconds).
    pub max_nats_election_s: Option<f64>,
}

fn latency<'a>(ops: impl Iterator<Item = &'a Op>) -> Latency {
    let mut latencies = nsplane_testkit::Latencies::new();
    for op in ops {
        latencies.record_ms((op.end_s - op.start_s) * 1000.0);
    }
    Latency {
        n: usize::try_from(latencies.len()).unwrap_or(usize::MAX),
        p50_ms: latencies.p50_ms(),
        p99_ms: latencies.p99_ms(),
    }
}

/// Builds the figures from the history and the faults.
#[allow(clippy::too_many_arguments)]
pub fn build(
    scenario: &str,
    seed: u64,
    duration_s: f64,
    started_at: String,
    expected_to_fail: bool,
    ops: &[Op],
    faults: Vec<FaultRecord>,
    convergence: Vec<Option<f64>>,
    check: CheckResult,
) -> ScenarioReport {
    let writes: Vec<&Op> = ops
        .iter()
        .filter(|o| o.kind != OpKind::CreateZone && o.outcome == Outcome::Ok)
        .collect();
    let during = |o: &&&Op| faults.iter().any(|f| o.start_s <= f.end_s && o.end_s >= f.start_s);
    let mut acks: Vec<f64> = writes.iter().map(|o| o.end_s).collect();
    acks.sort_by(f64::total_cmp);
    let mut max_gap: Option<f64> = None;
    for fault in &faults {
        // From the fault's start, the time until the next acknowledgement, then between acknowledgements,
        // for as long as the gaps start before the fault's end.
        let mut from = fault.start_s;
        for ack in acks.iter().filter(|a| **a > fault.start_s) {
            max_gap = Some(max_gap.unwrap_or(0.0).max(ack - from));
            if *ack > fault.end_s {
                break;
            }
            from = *ack;
        }
    }
    let mut faults_by_kind = BTreeMap::new();
    for f in &faults {
        *faults_by_kind.entry(f.kind.name().to_owned()).or_insert(0) += 1;
    }
    let max_election = faults
        .iter()
        .filter_map(|f| f.election_s)
        .fold(None, |m: Option<f64>, e| Some(m.unwrap_or(0.0).max(e)));
    let max_convergence = if convergence.iter().any(Option::is_none) {
        None
    } else {
        convergence
            .iter()
            .flatten()
            .copied()
            .fold(None, |m: Option<f64>, c| Some(m.unwrap_or(0.0).max(c)))
    };
    let mut check = check;
    if convergence.iter().any(Option::is_none) {
        check
            .failures
            .push("a secondary did not serve the healed state within the deadline after a fault".into());
    }
    let passed = check.failures.is_empty();
    ScenarioReport {
        scenario: scenario.to_owned(),
        seed,
        duration_s,
        started_at,
        expected_to_fail,
        passed,
        as_expected: passed != expected_to_fail,
        ops_sent: ops.iter().filter(|o| o.kind != OpKind::CreateZone).count(),
        ops_refused: ops.iter().filter(|o| matches!(o.outcome, Outcome::Refused(_))).count(),
        write_latency: latency(writes.iter().copied()),
        write_latency_during_faults: latency(writes.iter().filter(during).copied()),
        check,
        faults_by_kind,
        faults,
        convergence_after_fault_s: convergence,
        max_convergence_after_fault_s: max_convergence,
        max_write_gap_s: max_gap,
        max_nats_election_s: max_election,
    }
}

/// The report of a scenario that could not run to its check (the error is its one failure).
pub fn failed(
    scenario: &str,
    seed: u64,
    duration_s: f64,
    expected_to_fail: bool,
    error: &anyhow::Error,
) -> ScenarioReport {
    let check = CheckResult {
        failures: vec![format!("the scenario did not run to its check: {error:#}")],
        ..Default::default()
    };
    let mut report = build(
        scenario,
        seed,
        duration_s,
        chrono::Utc::now().to_rfc3339(),
        expected_to_fail,
        &[],
        Vec::new(),
        Vec::new(),
        check,
    );
    // Not even a self-test expects its run to break.
    report.as_expected = false;
    report
}

fn secs(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into())
}

/// The reports as a Markdown table (the same columns as docs/RELIABILITY.md).
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut out = String::from(
        "| scenario | seed | faults | acked | lost | dup | unexp | indef | forks | serial regr | conv after fault max (s) | final conv (s) | p50/p99 ms (faults) | write gap max (s) | NATS election max (s) | producer cmds (stale) | notifications missing NATS/AMQP (AMQP dup) | sink msgs (dup, reordered) records | ERROR lines | result |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in reports {
        let faults = if r.faults_by_kind.is_empty() {
            "none".to_owned()
        } else {
            r.faults_by_kind
                .iter()
                .map(|(k, n)| format!("{k}×{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let result = match (r.as_expected, r.expected_to_fail) {
            (true, false) => "PASS",
            (false, false) => "FAIL",
            (true, true) => "caught (expected)",
            (false, true) => "MISSED",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} ({}) | {}/{} ({}) | {} ({}, {}) {} | {} | {} |\n",
            r.scenario,
            r.seed,
            faults,
            r.check.acknowledged,
            r.check.lost,
            r.check.duplicated,
            r.check.unexpected,
            r.check.indefinite,
            r.check.forks,
            r.check.serial_regressions,
            if r.faults.is_empty() {
                "-".into()
            } else if r.max_convergence_after_fault_s.is_none() {
                "timeout".into()
            } else {
                secs(r.max_convergence_after_fault_s)
            },
            secs(r.check.final_convergence_s),
            ms(r.write_latency_during_faults.p50_ms),
            ms(r.write_latency_during_faults.p99_ms),
            secs(r.max_write_gap_s),
            secs(r.max_nats_election_s),
            r.check.producer_commits,
            r.check.stale_fences,
            r.check.notifications_missing,
            r.check.amqp_notifications_missing,
            r.check.amqp_notifications_duplicated,
            r.check.sink_published,
            r.check.sink_duplicates,
            r.check.sink_reordered,
            r.check.sink_records_expected,
            r.check.error_lines.len(),
            result,
        ));
    }
    out
}
