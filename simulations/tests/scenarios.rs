//! The short simulations, run by `cargo test`: `nsplane-sim run all` against the real `nsplane` binary
//! (rebuilt first, unless `NSPLANE_BIN` names one), a three-node NATS cluster, PostgreSQL, BIND and Knot.
//! One run serves both tests: every fault scenario keeps every invariant, and the checker's self-tests
//! (a corrupted read model, a stale secondary) are caught. `SIM_SEED` replays a schedule;
//! `SIM_DURATION` sets the seconds of load per scenario (default 7).

use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

struct Run {
    seed: u64,
    success: bool,
    reports: Vec<Value>,
    stderr_tail: String,
}

static RUN: OnceLock<Result<Run, String>> = OnceLock::new();

fn run_all() -> &'static Run {
    // Run once for both tests; a run that failed to report fails both, without running again.
    match RUN.get_or_init(|| std::panic::catch_unwind(start_run).map_err(|e| panic_text(&e))) {
        Ok(run) => run,
        Err(e) => panic!("{e}"),
    }
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "the simulation run panicked".into())
}

fn start_run() -> Run {
    {
        let mut env = Vec::new();
        if std::env::var_os("NSPLANE_BIN").is_none() {
            // The binary the simulation spawns must be the one of this source tree, not a stale build.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "nsplane", "--bin", "nsplane"])
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build -p nsplane --bin nsplane failed");
            let sim = std::path::PathBuf::from(env!("CARGO_BIN_EXE_nsplane-sim"));
            let nsplane = sim.with_file_name("nsplane");
            assert!(nsplane.is_file(), "no nsplane binary at {}", nsplane.display());
            env.push(("NSPLANE_BIN", nsplane.display().to_string()));
        }
        let seed: u64 = std::env::var("SIM_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        let duration = std::env::var("SIM_DURATION").unwrap_or_else(|_| "7".into());
        eprintln!("nsplane-sim run all --seed {seed} --duration {duration} (replay with SIM_SEED={seed})");
        let output = Command::new(env!("CARGO_BIN_EXE_nsplane-sim"))
            .args(["run", "all", "--json", "--deadline", "45", "--seed", &seed.to_string()])
            .args(["--duration", &duration])
            .envs(env)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run nsplane-sim");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        let reports: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "nsplane-sim printed no report ({e}); seed {seed}; its stderr:\n{}",
                nsplane_sim::process::tail(&stderr, 60)
            )
        });
        for r in &reports {
            eprintln!(
                "{}: passed {} acked {} lost {} dup {} converged {} final {} after faults {} errors {}",
                r["scenario"],
                r["passed"],
                r["check"]["acknowledged"],
                r["check"]["lost"],
                r["check"]["duplicated"],
                r["check"]["converged"],
                r["check"]["final_convergence_s"],
                r["convergence_after_fault_s"],
                r["check"]["error_lines"].as_array().map_or(0, Vec::len)
            );
        }
        Run {
            seed,
            success: output.status.success(),
            reports,
            stderr_tail: nsplane_sim::process::tail(&stderr, 40),
        }
    }
}

fn report<'a>(run: &'a Run, scenario: &str) -> &'a Value {
    run.reports
        .iter()
        .find(|r| r["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no report for {scenario} (seed {})", run.seed))
}

#[test]
fn every_fault_scenario_loses_nothing_duplicates_nothing_and_converges() {
    let run = run_all();
    let fault_scenarios = [
        ("baseline", None),
        ("kill9", Some("kill9")),
        ("pause", Some("pause")),
        ("nats-node", Some("nats-node")),
        ("nats-leader", Some("nats-leader")),
        ("postgres", Some("postgres")),
        ("partition", Some("partition")),
        ("worker-push", Some("worker-push")),
        ("rabbitmq", Some("rabbitmq")),
        ("mixed", None),
    ];
    for (scenario, kind) in fault_scenarios {
        let r = report(run, scenario);
        let check = &r["check"];
        let context = format!("{scenario} (seed {}): {}", run.seed, check["failures"]);
        assert!(
            check["acknowledged"].as_u64().unwrap_or(0) > 20,
            "too little load: {context}"
        );
        assert_eq!(check["lost"], 0, "lost acknowledged changes: {context}");
        assert_eq!(check["duplicated"], 0, "duplicated changes: {context}");
        assert_eq!(check["unexpected"], 0, "refused changes took effect: {context}");
        assert_eq!(check["forks"], 0, "a zone history forked: {context}");
        assert_eq!(check["serial_regressions"], 0, "a serial went backwards: {context}");
        assert_eq!(check["converged"], true, "secondaries did not converge: {context}");
        assert_eq!(
            check["replay_differences"], 0,
            "a replay rebuilt other read models: {context}"
        );
        assert_eq!(check["stale_fences"], 0, "a stale producer acted: {context}");
        assert_eq!(
            check["notifications_missing"], 0,
            "notifications lost on NATS: {context}"
        );
        assert_eq!(
            check["notifications_duplicated"], 0,
            "notifications twice on NATS: {context}"
        );
        assert_eq!(
            check["amqp_notifications_missing"], 0,
            "notifications lost on RabbitMQ: {context}"
        );
        assert!(
            check["sink_published"].as_u64().unwrap_or(0) >= 4,
            "too few Nova notifications for the sinks: {context}"
        );
        assert_eq!(
            check["sink_mismatches"], 0,
            "the sinks' records differ from the notifications: {context}"
        );
        assert_eq!(r["passed"], true, "{context}");
        if let Some(kind) = kind {
            assert!(
                r["faults_by_kind"][kind].as_u64().unwrap_or(0) >= 1,
                "{scenario} injected no {kind} fault: {}",
                r["faults"]
            );
        }
    }
    assert!(
        report(run, "mixed")["faults"].as_array().is_some_and(|f| !f.is_empty()),
        "mixed injected no fault"
    );
    assert!(
        run.success,
        "nsplane-sim exited with an error (seed {}):\n{}",
        run.seed, run.stderr_tail
    );
}

#[test]
fn the_checker_catches_a_corrupted_read_model_and_a_stale_secondary() {
    let run = run_all();
    let corrupt = report(run, "corrupt-read-model");
    assert_eq!(corrupt["passed"], false, "a deleted row went unnoticed: {corrupt}");
    assert!(
        corrupt["check"]["lost"].as_u64().unwrap_or(0) >= 1,
        "the deleted record set is not counted as lost: {}",
        corrupt["check"]
    );
    assert!(
        corrupt["check"]["replay_differences"].as_u64().unwrap_or(0) >= 1,
        "a replay does not find the deleted row: {}",
        corrupt["check"]
    );
    let stale = report(run, "corrupt-stale-secondary");
    assert_eq!(stale["passed"], false, "a stale secondary went unnoticed: {stale}");
    assert_eq!(stale["check"]["converged"], false, "{}", stale["check"]);
    assert_eq!(
        stale["check"]["lost"], 0,
        "a stale secondary is not a lost write: {}",
        stale["check"]
    );
    let failures = stale["check"]["failures"].to_string();
    assert!(
        failures.contains("on bind"),
        "the finding does not name BIND: {failures}"
    );
    assert!(
        !failures.contains("on knot"),
        "Knot was not cut off, yet blamed: {failures}"
    );
}
