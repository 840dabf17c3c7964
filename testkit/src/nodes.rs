//! nsplane nodes inside the test process: the roles' own `run` functions on free ports against a
//! namespace, stopped through their shutdown signal. `Node` runs the API (and central if asked), with a
//! pool whose name server is never polled; `FullNode` runs every role against a pools document.

use std::net::SocketAddr;

use nsplane_api::{ApiConfig, ApiRoleConfig};
use nsplane_command::service::ZoneDefaults;
use nsplane_command::PoolsStore;
use nsplane_dataplane::tsig::Keys;
use nsplane_runtime::Shutdown;
use nsplane_schema::Metadata;
use tokio::task::JoinHandle;

use crate::servers::{Namespace, Shared};

/// The pool of API-only nodes: one name server record, nothing to push to.
pub const TEST_POOL: &str = "- name: default\n  ns_records:\n    - hostname: ns1.example.net.\n      priority: 1\n";

/// The API's settings in tests (Designate's defaults).
pub fn api_config() -> ApiConfig {
    ApiConfig::default()
}

/// The API role over a namespace. Tests create many zones per project, so the `zones` quota is
/// unlimited by default; the quota test sets limits per project.
pub fn api_role(ns: &Namespace, api: ApiConfig) -> ApiRoleConfig {
    let mut quota_defaults = nsplane_schema::quotas::designate_defaults();
    quota_defaults.insert("zones".into(), -1);
    ApiRoleConfig {
        nats: ns.nats(),
        store: ns.store(),
        pg: ns.pg(),
        api,
        zone_cache: 1000,
        quota_defaults,
        zone_defaults: ZoneDefaults::default(),
    }
}

/// mdns's TSIG settings in a full node.
#[derive(Debug, Clone, Default)]
pub struct Tsig {
    /// The keys.
    pub keys: Keys,
    /// Refuse unsigned transfers.
    pub required: bool,
}

/// Roles running in this process.
pub struct Node {
    /// `http://127.0.0.1:<port>` of the API.
    pub base: String,
    /// Handles on the namespace's NATS and PostgreSQL.
    pub shared: Shared,
    shutdown: Shutdown,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Node {
    /// The API, and central if `with_central`.
    pub async fn start(ns: &Namespace, with_central: bool) -> Node {
        Self::start_with(ns, with_central, api_config()).await
    }

    /// The API with `config`, and central if `with_central`.
    pub async fn start_with(ns: &Namespace, with_central: bool, config: ApiConfig) -> Node {
        let shared = ns.connect().await;
        let pools = PoolsStore::new(shared.store.clone());
        if pools.current().await.expect("read pools").is_none() {
            pools
                .update(TEST_POOL, Metadata::service("test"))
                .await
                .expect("commit the test pool");
        }
        let shutdown = Shutdown::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut tasks = vec![tokio::spawn(nsplane_api::run(
            api_role(ns, config),
            listener,
            shutdown.receiver(),
        ))];
        if with_central {
            tasks.push(tokio::spawn(central(ns, &shutdown)));
        }
        Node {
            base,
            shared,
            shutdown,
            tasks,
        }
    }

    /// Stops every role and waits for them; a role that failed fails the test.
    pub async fn stop(self) {
        self.shutdown.trigger();
        for task in self.tasks {
            let result = task.await.expect("a role's task panicked");
            if let Err(e) = result {
                panic!("a role failed: {e:#}");
            }
        }
    }
}

fn central(ns: &Namespace, shutdown: &Shutdown) -> impl std::future::Future<Output = anyhow::Result<()>> {
    let config = nsplane_projection::CentralConfig::new(ns.nats(), ns.pg(), ns.layout());
    nsplane_projection::central::run(config, shutdown.receiver())
}

/// Every role in this process, with mdns on the given sockets and the given pools committed.
pub struct FullNode {
    /// The roles.
    pub node: Node,
    /// mdns's address.
    pub mdns: SocketAddr,
}

impl FullNode {
    /// Every role, without TSIG.
    pub async fn start(
        ns: &Namespace,
        mdns: (tokio::net::UdpSocket, tokio::net::TcpListener),
        pools_yaml: &str,
    ) -> FullNode {
        Self::start_with_tsig(ns, mdns, pools_yaml, Tsig::default()).await
    }

    /// Every role, mdns with `tsig`.
    pub async fn start_with_tsig(
        ns: &Namespace,
        mdns: (tokio::net::UdpSocket, tokio::net::TcpListener),
        pools_yaml: &str,
        tsig: Tsig,
    ) -> FullNode {
        let (udp, tcp) = mdns;
        let mdns_addr = udp.local_addr().expect("mdns addr");
        let shared = ns.connect().await;
        // The pools go through the event stream, as `nsplane pool update` commits them.
        PoolsStore::new(shared.store.clone())
            .update(pools_yaml, Metadata::service("test"))
            .await
            .expect("commit pools");
        let shutdown = Shutdown::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mdns_config = nsplane_dataplane::mdns::MdnsConfig {
            nats: ns.nats(),
            store: ns.store(),
            pg: ns.pg(),
            keys: tsig.keys,
            require_tsig: tsig.required,
        };
        let mut worker = nsplane_dataplane::WorkerConfig::new(ns.nats(), ns.store(), ns.pg());
        worker.sync_timeout = std::time::Duration::from_secs(5);
        let tasks = vec![
            tokio::spawn(nsplane_api::run(
                api_role(ns, api_config()),
                listener,
                shutdown.receiver(),
            )),
            tokio::spawn(central(ns, &shutdown)),
            tokio::spawn(nsplane_dataplane::mdns::run(mdns_config, udp, tcp, shutdown.receiver())),
            tokio::spawn(nsplane_dataplane::worker::run(worker, shutdown.receiver())),
        ];
        FullNode {
            node: Node {
                base,
                shared,
                shutdown,
                tasks,
            },
            mdns: mdns_addr,
        }
    }
}

/// mdns's sockets on a free loopback port.
pub async fn mdns_sockets() -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    nsplane_dataplane::mdns::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind mdns")
}

/// What the worker does once a pool no longer serves a zone being deleted: confirms the deletion, which
/// removes the zone and frees its name and quota slot. For tests that run no data plane.
pub async fn confirm_zone_deleted(shared: &Shared, zone_id: nsplane_schema::ZoneId) {
    let commands =
        nsplane_command::Commands::open(shared.store.clone(), Default::default(), Default::default(), 16, false)
            .await
            .expect("commands");
    commands
        .confirm_zone_deleted(zone_id, Vec::new(), &nsplane_command::Actor::service("worker"))
        .await
        .expect("confirmed");
}
