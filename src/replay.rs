//! `nsplane replay`: rebuilds the read models from the event stream into a shadow schema (resuming
//! where it stopped), shows progress, and with `--verify` compares the result with the live models.
//! Exit codes: 0 done (and equal), 3 differences found, 1 an error.

use std::io::{IsTerminal as _, Write as _};
use std::time::Instant;

use nsplane_projection::replay::{self, ReplayConfig, Replayed, Swapped, Verification};

/// The exit code when the shadow and the live models differ.
pub const DIFFERENT: i32 = 3;

/// What `run` found.
pub struct Outcome {
    /// The replay.
    pub replayed: Replayed,
    /// The comparison, if asked for.
    pub verification: Option<Verification>,
    /// The swap, if asked for and the comparison found the models equal.
    pub swapped: Option<Swapped>,
}

/// Replays (from scratch with `fresh`), then verifies if asked, then swaps the shadow in if asked and
/// the models are equal; progress goes to stderr: a bar with rate and time left on a terminal, a line
/// every few seconds otherwise.
pub async fn run(config: &ReplayConfig, fresh: bool, verify: bool, swap: bool) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        !swap || verify,
        "--swap needs --verify: only a verified shadow replaces the live models"
    );
    if fresh {
        replay::drop_shadow(config).await?;
    }
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    let mut replayed = replay::replay(config, |done, total| {
        let elapsed = started.elapsed().as_secs_f64();
        if terminal {
            eprint!("\r{} ", progress_bar(done, total, elapsed));
            if done >= total {
                eprintln!();
            }
        } else if last_line.elapsed().as_secs() >= 2 || done >= total {
            eprintln!("replay: {}", progress_text(done, total, elapsed));
            last_line = Instant::now();
        }
    })
    .await?;
    let mut verification = None;
    if verify {
        // Zones that moved on the live side while replaying are caught up and compared again.
        let mut found = replay::verify(config).await?;
        for _ in 0..3 {
            if found.moving.is_empty() {
                break;
            }
            let more = replay::replay(config, |_, _| {}).await?;
            replayed.commits += more.commits;
            replayed.events += more.events;
            replayed.reached_seq = more.reached_seq;
            found = replay::verify(config).await?;
        }
        verification = Some(found);
    }
    let mut swapped = None;
    if swap {
        match &verification {
            Some(v) if v.equal() => swapped = Some(replay::swap(config).await?),
            _ => eprintln!("replay: the shadow differs from the live models; not swapping"),
        }
    }
    Ok(Outcome {
        replayed,
        verification,
        swapped,
    })
}

/// `done/total commits, rate/s, seconds left`. A batch may bring commits stored after the replay
/// began, so `done` may pass `total`: the total grows with it.
fn progress_text(done: u64, total: u64, elapsed_s: f64) -> String {
    let total = total.max(done);
    let rate = done as f64 / elapsed_s.max(1e-3);
    let left = if rate > 0.0 { (total - done) as f64 / rate } else { 0.0 };
    format!("{done}/{total} commits, {rate:.0}/s, {left:.0} s left")
}

/// A 30-character bar and the progress text, for a terminal.
fn progress_bar(done: u64, total: u64, elapsed_s: f64) -> String {
    const WIDTH: u64 = 30;
    let filled = match total.max(done) {
        0 => WIDTH,
        all => (done * WIDTH / all).min(WIDTH),
    };
    let (filled, empty) = (filled as usize, (WIDTH - filled) as usize);
    format!(
        "[{}{}] {}",
        "#".repeat(filled),
        " ".repeat(empty),
        progress_text(done, total, elapsed_s)
    )
}

/// Prints the outcome: a table, or JSON.
// The report is the tool's output.
#[allow(clippy::print_stdout)]
pub fn print(outcome: &Outcome, json: bool) -> anyhow::Result<()> {
    if json {
        let report = serde_json::json!({
            "replay": outcome.replayed,
            "verification": outcome.verification,
            "swap": outcome.swapped,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let r = &outcome.replayed;
    let events_per_s = if r.seconds > 0.0 {
        r.events as f64 / r.seconds
    } else {
        0.0
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<24}{:>14}", "resumed after seq", r.resumed_after_seq)?;
    writeln!(out, "{:<24}{:>14}", "reached seq", r.reached_seq)?;
    writeln!(out, "{:<24}{:>14}", "commits applied", r.commits)?;
    writeln!(out, "{:<24}{:>14}", "events applied", r.events)?;
    writeln!(out, "{:<24}{:>14.2}", "seconds", r.seconds)?;
    writeln!(out, "{:<24}{:>14.0}", "events per second", events_per_s)?;
    if let Some(v) = &outcome.verification {
        writeln!(out, "{:<24}{:>14}", "groups compared", v.groups_compared)?;
        writeln!(out, "{:<24}{:>14}", "groups equal", v.groups_equal)?;
        writeln!(out, "{:<24}{:>14}", "groups still moving", v.moving.len())?;
        writeln!(out, "{:<24}{:>14}", "groups different", v.differences.len())?;
        for d in &v.differences {
            writeln!(out, "differs: {} {}", d.table, d.group)?;
            for row in &d.only_live {
                writeln!(out, "  live only:   {row}")?;
            }
            for row in &d.only_shadow {
                writeln!(out, "  shadow only: {row}")?;
            }
        }
    }
    if let Some(s) = &outcome.swapped {
        writeln!(out, "{:<24}{:>14.1}", "swap read stall (ms)", s.read_stall_ms)?;
        writeln!(out, "{:<24}{:>14}", "caught up at the swap", s.caught_up_commits)?;
        writeln!(out, "old tables kept in schema {}", s.retired_schema)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_commits_stored_after_the_start() {
        assert_eq!(progress_text(50, 100, 1.0), "50/100 commits, 50/s, 1 s left");
        // More commits than there were when it began: no underflow, nothing left.
        assert_eq!(progress_text(120, 100, 2.0), "120/120 commits, 60/s, 0 s left");
        assert!(progress_bar(120, 100, 2.0).starts_with(&format!("[{}]", "#".repeat(30))));
        assert!(progress_bar(0, 0, 0.0).starts_with(&format!("[{}]", "#".repeat(30))));
        assert!(progress_bar(0, 10, 0.0).starts_with(&format!("[{}]", " ".repeat(30))));
    }
}
