//! `nsplane-sim cluster --dir DIR`: the production topology on this machine, held until stopped (what
//! `scripts/cluster.sh up|down` runs): three routed nats-server nodes (R3 stream and buckets),
//! PostgreSQL, two instances of every role (each with `/healthcheck` and `/metrics` on an ops port),
//! HAProxy in front of the two APIs checking their `/healthcheck`, and a BIND and a Knot secondary fed
//! by the catalog zone. It writes `DIR/cluster.env` (the addresses, for scripts and people) and stops
//! everything on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;

use crate::cluster::{Cluster, PREFIX};
use crate::process::Process;

/// Settings.
#[derive(Debug, Clone, Args)]
pub struct HoldArgs {
    /// Where every server keeps its data and logs.
    #[arg(long)]
    pub dir: PathBuf,
    /// Where HAProxy serves the API.
    #[arg(long, default_value = "127.0.0.1:9080")]
    pub api_listen: SocketAddr,
}

fn haproxy_config(listen: SocketAddr, apis: &[String]) -> String {
    let mut servers = String::new();
    for (i, api) in apis.iter().enumerate() {
        let addr = api.trim_start_matches("http://");
        servers.push_str(&format!("    server api{i} {addr} check\n"));
    }
    format!(
        "# Written by nsplane-sim cluster: the API instances behind one address, each checked on /healthcheck.\n\
         global\n    maxconn 2000\n\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    retries 2\n    option redispatch\n\n\
         frontend nsplane_api\n    bind {listen}\n    default_backend nsplane_api\n\n\
         backend nsplane_api\n    balance roundrobin\n    option httpchk GET /healthcheck\n    http-check expect status 200\n    \
         default-server inter 1s fall 2 rise 2\n{servers}"
    )
}

fn find_haproxy() -> anyhow::Result<PathBuf> {
    for candidate in ["/usr/sbin/haproxy", "/usr/bin/haproxy"] {
        if std::path::Path::new(candidate).exists() {
            return Ok(candidate.into());
        }
    }
    anyhow::bail!("haproxy is not installed (scripts/cluster.sh installs Debian's)")
}

/// Starts the topology and holds it until a signal.
pub async fn run(args: HoldArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let haproxy_bin = find_haproxy()?;
    let mut cluster = Cluster::start(&args.dir).await?;
    let topology = cluster.topology();
    let config = topology.dir.join("haproxy.cfg");
    std::fs::write(&config, haproxy_config(args.api_listen, &topology.apis))?;
    let mut haproxy = Process::new(
        "haproxy",
        &haproxy_bin,
        vec!["-db".into(), "-f".into(), config.display().to_string()],
        Vec::new(),
        topology.dir.join("haproxy.log"),
    );
    haproxy.start()?;
    let api = format!("http://{}", args.api_listen);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let healthy = http
            .get(format!("{api}/healthcheck"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if healthy {
            break;
        }
        anyhow::ensure!(
            haproxy.is_running(),
            "haproxy stopped; see {}",
            topology.dir.join("haproxy.log").display()
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "the API was not healthy behind HAProxy within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut env = vec![
        ("NSPLANE_API".to_owned(), api.clone()),
        ("NSPLANE_NATS_URL".to_owned(), topology.nats_urls.join(",")),
        ("NSPLANE_DATABASE_URL".to_owned(), topology.database_url.clone()),
        ("NSPLANE_PREFIX".to_owned(), PREFIX.to_owned()),
        ("NSPLANE_STREAM_REPLICAS".to_owned(), "3".to_owned()),
        // The broker the producers notify on (exchange `designate`) and the sinks read Nova's and
        // Neutron's notifications from; instances' records land in the sink zone.
        ("AMQP_URL".to_owned(), topology.amqp_url.clone()),
        ("SINK_ZONE_ID".to_owned(), topology.sink_zone.0.clone()),
    ];
    for (i, mdns) in topology.mdns.iter().enumerate() {
        env.push((format!("MDNS_{i}"), mdns.to_string()));
    }
    for (name, addr) in &topology.secondaries {
        env.push((name.to_uppercase(), addr.to_string()));
    }
    for (name, port) in &topology.ops {
        env.push((
            format!("OPS_{}", name.replace('-', "_").to_uppercase()),
            format!("127.0.0.1:{port}"),
        ));
    }
    let env_file = topology.dir.join("cluster.env");
    let body: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&env_file, &body).with_context(|| format!("failed to write {}", env_file.display()))?;
    // The addresses are the tool's output.
    #[allow(clippy::print_stdout)]
    {
        println!("{body}");
        println!(
            "cluster up in {:.1} s: the API through HAProxy at {api}; addresses in {}",
            started.elapsed().as_secs_f64(),
            env_file.display()
        );
    }
    let shutdown = nsplane_runtime::Shutdown::on_signals();
    let mut stop = shutdown.receiver();
    let _ = stop.wait_for(|stop| *stop).await;
    haproxy.kill9();
    cluster.stop();
    #[allow(clippy::print_stdout)]
    {
        println!("cluster stopped");
    }
    Ok(())
}
