//! `nsplane events`: the event log for operators. `tail` prints commits in stream order (the latest
//! few, from a position, or following new ones), `show` one commit in full or every commit of one
//! request. A table by default, one JSON object per commit with `--json`.

use std::io::Write as _;

use anyhow::Context as _;
use futures::StreamExt as _;
use nsplane_command::log::{LogFilter, LoggedCommit};
use nsplane_command::EventStore;
use nsplane_projection::ReadModels;
use nsplane_schema::envelope::event_tag;
use nsplane_schema::tsigkeys::redact;

/// What `tail` prints.
#[derive(Debug, Clone)]
pub struct Tail {
    /// Which commits.
    pub filter: LogFilter,
    /// The latest this many matching commits (0: all); ignored with `from`.
    pub last: u64,
    /// Start at this stream sequence.
    pub from: Option<u64>,
    /// Keep printing new commits until interrupted.
    pub follow: bool,
    /// One JSON object per line instead of a table.
    pub json: bool,
}

/// Prints commits as `tail` says, to stdout.
pub async fn tail(store: &EventStore, tail: Tail) -> anyhow::Result<()> {
    let reader = store.read_log(&tail.filter, tail.from.unwrap_or(1)).await?;
    let skip = match tail.from {
        None if tail.last > 0 => reader.matching.saturating_sub(tail.last),
        _ => 0,
    };
    let shown_now = reader.matching - skip;
    let mut out = std::io::stdout().lock();
    if !tail.json {
        writeln!(out, "{}", header())?;
    }
    if shown_now == 0 && !tail.follow {
        return Ok(());
    }
    let mut commits = reader.commits.skip(usize::try_from(skip).unwrap_or(usize::MAX));
    let mut shown = 0u64;
    loop {
        let next = tokio::select! {
            next = commits.next() => next,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(commit) = next else { break };
        print(&mut out, &commit?, tail.json)?;
        out.flush()?;
        shown += 1;
        if !tail.follow && shown >= shown_now {
            break;
        }
    }
    Ok(())
}

/// Which commits `show` prints.
#[derive(Debug, Clone)]
pub enum Show {
    /// The commit at this stream sequence.
    Seq(u64),
    /// Every commit of this request.
    Request(String),
}

/// Prints the commits `show` names in full, to stdout. Fails if there are none.
pub async fn show(store: &EventStore, read: &ReadModels, which: Show, json: bool) -> anyhow::Result<()> {
    let seqs = match &which {
        Show::Seq(seq) => vec![*seq],
        Show::Request(id) => read
            .commits_of_request(id)
            .await
            .context("failed to look up the request")?,
    };
    let mut commits = Vec::with_capacity(seqs.len());
    for seq in seqs {
        commits.push(
            store
                .commit_at(seq)
                .await?
                .with_context(|| format!("the stream holds no commit at sequence {seq}"))?,
        );
    }
    anyhow::ensure!(!commits.is_empty(), "no commit of {which:?} has been projected");
    let mut out = std::io::stdout().lock();
    for commit in &commits {
        if json {
            print(&mut out, commit, true)?;
        } else {
            detail(&mut out, commit)?;
        }
    }
    Ok(())
}

fn header() -> String {
    format!(
        "{:>8}  {:<23}  {:<44}  {:>5}  {:<8}  {:<20}  {:<22}  EVENTS",
        "SEQ", "STORED (UTC)", "AGGREGATE", "V", "SOURCE", "USER", "COMMAND"
    )
}

fn print(out: &mut impl std::io::Write, logged: &LoggedCommit, json: bool) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(logged)?;
        // The envelope is flattened into the commit's object.
        if let Some(events) = value["events"].as_array_mut() {
            for event in events {
                *event = redact(&logged.commit.aggregate_type, event);
            }
        }
        serde_json::to_writer(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    let commit = &logged.commit;
    let meta = &commit.metadata;
    writeln!(
        out,
        "{:>8}  {:<23}  {:<44}  {:>5}  {:<8}  {:<20}  {:<22}  {}",
        logged.stream_seq,
        logged.stored_at.format("%Y-%m-%d %H:%M:%S%.3f"),
        format!("{}/{}", commit.aggregate_type, commit.aggregate_id),
        commit.version,
        meta.source_role,
        meta.user_id,
        meta.command,
        event_names(logged).join(", ")
    )?;
    Ok(())
}

/// One commit, every field on its own line and each event as indented JSON.
fn detail(out: &mut impl std::io::Write, logged: &LoggedCommit) -> anyhow::Result<()> {
    let commit = &logged.commit;
    let meta = &commit.metadata;
    let fields = [
        ("stream seq", logged.stream_seq.to_string()),
        ("stored at", logged.stored_at.to_rfc3339()),
        (
            "aggregate",
            format!("{}/{}", commit.aggregate_type, commit.aggregate_id),
        ),
        ("version", commit.version.to_string()),
        ("command", meta.command.clone()),
        ("source", meta.source_role.clone()),
        ("user", meta.user_id.clone()),
        ("project", meta.project_id.0.clone()),
        ("roles", meta.roles.join(", ")),
        ("request id", meta.request_id.0.clone()),
        ("decided at", meta.time.to_rfc3339()),
    ];
    for (name, value) in fields {
        writeln!(out, "{name:<12}{value}")?;
    }
    for (name, event) in event_names(logged).iter().zip(&commit.events) {
        let value = redact(&commit.aggregate_type, &serde_json::from_str(event.get())?);
        let text = serde_json::to_string_pretty(&value)?.replace('\n', "\n    ");
        writeln!(out, "event       {name}\n    {text}")?;
    }
    writeln!(out)?;
    Ok(())
}

fn event_names(logged: &LoggedCommit) -> Vec<String> {
    logged
        .commit
        .events
        .iter()
        .map(|event| match event_tag(event) {
            Some(tag) => format!("{}.v{}", tag.name, tag.version),
            None => "(untagged)".to_owned(),
        })
        .collect()
}
