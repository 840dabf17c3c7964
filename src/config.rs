//! Command-line arguments (every flag also from `NSPLANE_*` variables) and their validation into the
//! configuration the roles take. Defaults and cross-field checks live here only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use nsplane_command::service::ZoneDefaults;
use nsplane_command::StoreConfig;
use nsplane_projection::PgConfig;
use nsplane_runtime::NatsConfig;
use nsplane_schema::pools::Pools;
use nsplane_schema::Layout;

mod tools;
pub use tools::*;

/// nsplane: DNS-as-a-Service with an event-sourced control plane.
#[derive(Debug, Parser)]
#[command(name = "nsplane", version, about)]
pub struct Cli {
    /// A TOML file with the same keys as the flags (`nats_url = "nats://…"`; `KEY_file` reads a key's
    /// value from a file); flags and `NSPLANE_*` variables override it, unknown keys are refused.
    #[arg(long, env = "NSPLANE_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Log format.
    #[arg(long, env = "NSPLANE_LOG_FORMAT", value_enum, default_value = "plain", global = true)]
    pub log_format: LogFormat,
    /// The role or tool to run.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Roles and tools.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The REST API (Designate v2 dialect).
    Api(ApiArgs),
    /// The projector: event stream → PostgreSQL read models.
    Central(CommonArgs),
    /// The hidden primary: serves zones, catalog zones, AXFR and IXFR to the pools' servers.
    Mdns(MdnsArgs),
    /// Pushes each zone change to its pool's targets and reports whether they serve it.
    Worker(CommonArgs),
    /// Periodic tasks (recovery of zones waiting for the data plane) on the shard ranges it holds
    /// through fenced leases in JetStream KV; run any number.
    Producer(ProducerArgs),
    /// Compute and network notifications (Nova, Neutron) from RabbitMQ or NATS turned into managed
    /// records, as Designate's sink; run any number.
    Sink(SinkArgs),
    /// Every role in one process; with no NATS or PostgreSQL URL it starts its own under --data-dir.
    All(AllArgs),
    /// Pool configuration tools.
    Pool(PoolArgs),
    /// Zone-name reservations and quota slots (JetStream KV) as the event stream says they are.
    Claims(ClaimsArgs),
    /// The event log: every change with who asked, why and when.
    Events(EventsArgs),
    /// Audit queries over every project: who changed what, when, with values before and after.
    Audit(AuditArgs),
    /// Rebuilds the read models from the event stream into a shadow schema, compares them with the live
    /// ones, and can swap them in. Exit codes: 0 done (and equal), 3 differences found, 1 an error.
    Replay(ReplayArgs),
    /// A zone's history over every project (deleted zones too): its serials, its record sets at a
    /// serial or a time, the difference between two serials.
    Zone(ZoneArgs),
}

/// Settings every role shares.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Serve `/healthcheck` (200, or 503 naming the dependency that fails) and `/metrics` (Prometheus)
    /// here; the API also serves them on its own port. Roles only; tools ignore it.
    #[arg(long, env = "NSPLANE_OPS_LISTEN")]
    pub ops_listen: Option<SocketAddr>,
    /// NATS URL (nats-server 2.11 or newer).
    #[arg(long, env = "NSPLANE_NATS_URL")]
    pub nats_url: Option<String>,
    /// PostgreSQL URL of the read models.
    #[arg(long, env = "NSPLANE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Prefix of every subject, stream and bucket name.
    #[arg(long, env = "NSPLANE_PREFIX", default_value = "nsplane")]
    pub prefix: String,
    /// Replicas of the event stream (3 on a NATS cluster).
    #[arg(long, env = "NSPLANE_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// How long JetStream remembers a request's message id to drop a retried append (seconds).
    #[arg(long, env = "NSPLANE_DUPLICATE_WINDOW_SECS", default_value_t = 120)]
    pub duplicate_window_secs: u64,
    /// Quota: zones per project (-1: unlimited).
    #[arg(
        long,
        env = "NSPLANE_QUOTA_ZONES",
        default_value_t = 10,
        allow_negative_numbers = true
    )]
    pub quota_zones: i64,
    /// Quota: record sets per zone in an export (-1: unlimited).
    #[arg(
        long,
        env = "NSPLANE_QUOTA_API_EXPORT_SIZE",
        default_value_t = 1000,
        allow_negative_numbers = true
    )]
    pub quota_api_export_size: i64,
    /// Quota: record sets per zone, managed SOA/NS included (-1: unlimited).
    #[arg(
        long,
        env = "NSPLANE_QUOTA_ZONE_RECORDSETS",
        default_value_t = 500,
        allow_negative_numbers = true
    )]
    pub quota_zone_recordsets: i64,
    /// Quota: records per zone, managed ones excluded (-1: unlimited).
    #[arg(
        long,
        env = "NSPLANE_QUOTA_ZONE_RECORDS",
        default_value_t = 500,
        allow_negative_numbers = true
    )]
    pub quota_zone_records: i64,
    /// Quota: records per record set (-1: unlimited).
    #[arg(
        long,
        env = "NSPLANE_QUOTA_RECORDSET_RECORDS",
        default_value_t = 20,
        allow_negative_numbers = true
    )]
    pub quota_recordset_records: i64,
    /// PostgreSQL connections per process.
    #[arg(long, env = "NSPLANE_DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: usize,
    /// Pools in Designate's `pools.yaml` format, committed as the configuration every role uses before
    /// this one starts. Without it the committed configuration is used (`nsplane all` commits a pool
    /// served by its own mdns if there is none).
    #[arg(long, env = "NSPLANE_POOLS")]
    pub pools: Option<PathBuf>,
    /// Load and validate the configuration, then exit.
    #[arg(long)]
    pub check_config: bool,
}

/// API settings.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address the API listens on (port 0 picks one).
    #[arg(long, env = "NSPLANE_API_LISTEN", default_value = "127.0.0.1:9001")]
    pub api_listen: SocketAddr,
    /// Base URL of links in responses (default: the request's Host header).
    #[arg(long, env = "NSPLANE_API_BASE_URI")]
    pub api_base_uri: Option<String>,
    /// Behind a load balancer: build links from X-Forwarded-Proto and X-Forwarded-Host.
    #[arg(long, env = "NSPLANE_ENABLE_PROXY_HEADERS_PARSING")]
    pub enable_proxy_headers_parsing: bool,
    /// How callers are identified: `noauth` (headers, development) or `keystone` (tokens).
    #[arg(long, env = "NSPLANE_AUTH_STRATEGY", value_enum, default_value = "noauth")]
    pub auth_strategy: AuthStrategyArg,
    /// Keystone identity v3 URL (keystone mode), e.g. `http://keystone:5000/v3`.
    #[arg(long, env = "NSPLANE_KEYSTONE_URL")]
    pub keystone_url: Option<String>,
    /// The API's service user in Keystone.
    #[arg(long, env = "NSPLANE_KEYSTONE_USERNAME", default_value = "nsplane")]
    pub keystone_username: String,
    /// Its password.
    #[arg(long, env = "NSPLANE_KEYSTONE_PASSWORD", hide_env_values = true)]
    pub keystone_password: Option<String>,
    /// The project its token is scoped to.
    #[arg(long, env = "NSPLANE_KEYSTONE_PROJECT_NAME", default_value = "service")]
    pub keystone_project_name: String,
    /// Domain of the service user and its project.
    #[arg(long, env = "NSPLANE_KEYSTONE_DOMAIN_NAME", default_value = "Default")]
    pub keystone_domain_name: String,
    /// Longest time a validated token is trusted without asking Keystone again (seconds;
    /// keystonemiddleware's `token_cache_time`).
    #[arg(long, env = "NSPLANE_KEYSTONE_CACHE_SECS", default_value_t = 300)]
    pub keystone_cache_secs: u64,
    /// Zones cached per process by the command side.
    #[arg(long, env = "NSPLANE_ZONE_CACHE", default_value_t = 10_000)]
    pub zone_cache: usize,
}

/// `--auth-strategy` values.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AuthStrategyArg {
    /// Headers name the project and roles (Designate's noauth; development only).
    Noauth,
    /// Tokens validated against Keystone.
    Keystone,
}

/// `nsplane all` settings.
#[derive(Debug, Clone, Args)]
pub struct AllArgs {
    /// API and shared settings.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Where dev mode keeps its own NATS and PostgreSQL data.
    #[arg(long, env = "NSPLANE_DATA_DIR", default_value = "./.nsplane")]
    pub data_dir: PathBuf,
    /// The roles to run in this process (default: every role).
    #[arg(
        long,
        env = "NSPLANE_ROLES",
        value_delimiter = ',',
        default_value = "api,central,mdns,worker,producer"
    )]
    pub roles: Vec<String>,
    /// The producer's settings.
    #[command(flatten)]
    pub producer: ProducerSettings,
    /// Address mdns listens on, UDP and TCP (port 0 picks one).
    #[arg(long, env = "NSPLANE_MDNS_LISTEN", default_value = "127.0.0.1:5354")]
    pub mdns_listen: SocketAddr,
    /// TSIG keys for mdns (YAML list of name, algorithm, secret, scope POOL|ZONE, resource_id).
    #[arg(long, env = "NSPLANE_TSIG_KEYS")]
    pub tsig_keys: Option<PathBuf>,
    /// Refuse unsigned zone transfers.
    #[arg(long, env = "NSPLANE_REQUIRE_TSIG")]
    pub require_tsig: bool,
}

/// The producer's own settings.
#[derive(Debug, Clone, Args)]
pub struct ProducerSettings {
    /// How many ranges the 4,096 shards are split into, one lease each (must divide 4096).
    #[arg(long, env = "NSPLANE_LEASE_RANGES", default_value_t = 16)]
    pub lease_ranges: u16,
    /// A lease its holder stops renewing expires after this many seconds (another producer then takes
    /// the range over).
    #[arg(long, env = "NSPLANE_LEASE_TTL_SECS", default_value_t = 3)]
    pub lease_ttl_secs: u64,
    /// A zone PENDING or ERROR with no commit for this many seconds is pushed again (doubling while it
    /// keeps waiting, up to 10 minutes).
    #[arg(long, env = "NSPLANE_RECOVER_AFTER_SECS", default_value_t = 10)]
    pub recover_after_secs: u64,
    /// Publish every committed event as Designate's notification to NATS (stream
    /// `<PREFIX>_NOTIFICATIONS`, subjects `<prefix>.notifications.<event type>`).
    #[arg(long, env = "NSPLANE_NOTIFY_NATS")]
    pub notify_nats: bool,
    /// Publish every committed event as Designate's notification to RabbitMQ at this URL
    /// (`amqp://user:password@host:5672/%2f`).
    #[arg(long, env = "NSPLANE_NOTIFY_AMQP_URL", hide_env_values = true)]
    pub notify_amqp_url: Option<String>,
    /// The RabbitMQ exchange notifications go to (Designate's `control_exchange`).
    #[arg(long, env = "NSPLANE_NOTIFY_AMQP_EXCHANGE", default_value = "designate")]
    pub notify_amqp_exchange: String,
    /// The notification topic; messages are routed with `<topic>.info`.
    #[arg(long, env = "NSPLANE_NOTIFY_TOPIC", default_value = "notifications")]
    pub notify_topic: String,
    /// With notifications on: `dns.zone.exists` for every zone once per this many seconds (Designate's
    /// periodic_exists, for billing); 0 turns it off.
    #[arg(long, env = "NSPLANE_EXISTS_EVERY_SECS", default_value_t = 3600)]
    pub exists_every_secs: u64,
}

impl ProducerSettings {
    /// The producer's configuration over `connections`.
    pub fn producer(&self, connections: &Connections) -> anyhow::Result<nsplane_producer::ProducerConfig> {
        let mut config = nsplane_producer::ProducerConfig::new(
            connections.nats.clone(),
            connections.store.clone(),
            connections.pg.clone(),
        );
        config.leases.ranges = self.lease_ranges;
        config.leases.ttl = std::time::Duration::from_secs(self.lease_ttl_secs);
        config.leases.renew_every = (config.leases.ttl / 6).max(std::time::Duration::from_millis(100));
        config.leases.validate().context("--lease-ranges / --lease-ttl-secs")?;
        anyhow::ensure!(self.recover_after_secs >= 1, "--recover-after-secs must be at least 1");
        config.recover_after = std::time::Duration::from_secs(self.recover_after_secs);
        if self.exists_every_secs > 0 {
            config.exists = self
                .notifier(connections)?
                .map(|n| (n, std::time::Duration::from_secs(self.exists_every_secs)));
        }
        Ok(config)
    }
}

impl ProducerSettings {
    /// The notifier's configuration, when notifications go anywhere.
    pub fn notifier(&self, connections: &Connections) -> anyhow::Result<Option<nsplane_notify::NotifyConfig>> {
        if !self.notify_nats && self.notify_amqp_url.is_none() {
            return Ok(None);
        }
        let mut config = nsplane_notify::NotifyConfig::new(connections.nats.clone(), connections.store.clone());
        config.to_nats = self.notify_nats;
        if let Some(url) = &self.notify_amqp_url {
            anyhow::ensure!(
                url.starts_with("amqp://") || url.starts_with("amqps://"),
                "--notify-amqp-url must be an amqp:// or amqps:// URL"
            );
            anyhow::ensure!(!self.notify_amqp_exchange.is_empty(), "--notify-amqp-exchange is empty");
            config.amqp = Some(nsplane_notify::amqp::AmqpConfig {
                url: url.clone(),
                exchange: self.notify_amqp_exchange.clone(),
                topic: self.notify_topic.clone(),
            });
        }
        Ok(Some(config))
    }
}

/// `nsplane sink` settings.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Consume Nova's and Neutron's notifications from RabbitMQ at this URL
    /// (`amqp://user:password@host:5672/%2f`).
    #[arg(long, env = "NSPLANE_SINK_AMQP_URL", hide_env_values = true)]
    pub sink_amqp_url: Option<String>,
    /// The durable queue every sink shares, bound to the exchanges with `<topic>.info`.
    #[arg(long, env = "NSPLANE_SINK_QUEUE", default_value = "nsplane-sink")]
    pub sink_queue: String,
    /// The notification topic Nova and Neutron publish to.
    #[arg(long, env = "NSPLANE_SINK_TOPIC", default_value = "notifications")]
    pub sink_topic: String,
    /// Nova's exchange.
    #[arg(long, env = "NSPLANE_SINK_NOVA_EXCHANGE", default_value = "nova")]
    pub sink_nova_exchange: String,
    /// Neutron's exchange.
    #[arg(long, env = "NSPLANE_SINK_NEUTRON_EXCHANGE", default_value = "neutron")]
    pub sink_neutron_exchange: String,
    /// Also consume notifications published on NATS (stream `<PREFIX>_SINK`, subjects `<prefix>.sink.>`).
    #[arg(long, env = "NSPLANE_SINK_NATS")]
    pub sink_nats: bool,
    /// `nova_fixed`: the zone instances' records go to (none: Nova's notifications are ignored).
    #[arg(long, env = "NSPLANE_NOVA_FIXED_ZONE_ID")]
    pub nova_fixed_zone_id: Option<String>,
    /// `nova_fixed`: record names for IPv4 addresses (repeat for several; `%(key)s` placeholders).
    #[arg(
        long,
        env = "NSPLANE_NOVA_FIXED_FORMATV4",
        value_delimiter = ',',
        default_value = "%(hostname)s.%(zone)s"
    )]
    pub nova_fixed_formatv4: Vec<String>,
    /// `nova_fixed`: record names for IPv6 addresses.
    #[arg(
        long,
        env = "NSPLANE_NOVA_FIXED_FORMATV6",
        value_delimiter = ',',
        default_value = "%(hostname)s.%(zone)s"
    )]
    pub nova_fixed_formatv6: Vec<String>,
    /// `neutron_floatingip`: the zone floating IPs' records go to.
    #[arg(long, env = "NSPLANE_NEUTRON_FLOATINGIP_ZONE_ID")]
    pub neutron_floatingip_zone_id: Option<String>,
    /// `neutron_floatingip`: record names for IPv4 floating IPs.
    #[arg(
        long,
        env = "NSPLANE_NEUTRON_FLOATINGIP_FORMATV4",
        value_delimiter = ',',
        default_value = "%(hostname)s.%(zone)s"
    )]
    pub neutron_floatingip_formatv4: Vec<String>,
    /// `neutron_floatingip`: record names for IPv6 floating IPs.
    #[arg(
        long,
        env = "NSPLANE_NEUTRON_FLOATINGIP_FORMATV6",
        value_delimiter = ',',
        default_value = "%(hostname)s.%(zone)s"
    )]
    pub neutron_floatingip_formatv6: Vec<String>,
}

impl SinkArgs {
    /// The sink's configuration over `connections`.
    pub fn sink(&self, connections: &Connections) -> anyhow::Result<nsplane_sink::SinkConfig> {
        anyhow::ensure!(
            self.sink_amqp_url.is_some() || self.sink_nats,
            "the sink needs an input: --sink-amqp-url and/or --sink-nats"
        );
        if let Some(url) = &self.sink_amqp_url {
            anyhow::ensure!(
                url.starts_with("amqp://") || url.starts_with("amqps://"),
                "--sink-amqp-url must be an amqp:// or amqps:// URL"
            );
        }
        for (flag, zone) in [
            ("--nova-fixed-zone-id", &self.nova_fixed_zone_id),
            ("--neutron-floatingip-zone-id", &self.neutron_floatingip_zone_id),
        ] {
            if let Some(zone) = zone {
                nsplane_schema::ZoneId::parse(zone)
                    .map_err(|_| anyhow::anyhow!("{flag}: {zone:?} is not a zone id"))?;
            }
        }
        let mut config = nsplane_sink::SinkConfig::new(connections.nats.clone(), connections.store.clone());
        config.amqp_url = self.sink_amqp_url.clone();
        config.amqp_queue = self.sink_queue.clone();
        config.topic = self.sink_topic.clone();
        config.nova_exchange = self.sink_nova_exchange.clone();
        config.neutron_exchange = self.sink_neutron_exchange.clone();
        config.from_nats = self.sink_nats;
        config.nova = nsplane_sink::handlers::HandlerConfig {
            zone_id: self.nova_fixed_zone_id.clone(),
            formatv4: self.nova_fixed_formatv4.clone(),
            formatv6: self.nova_fixed_formatv6.clone(),
        };
        config.neutron = nsplane_sink::handlers::HandlerConfig {
            zone_id: self.neutron_floatingip_zone_id.clone(),
            formatv4: self.neutron_floatingip_formatv4.clone(),
            formatv6: self.neutron_floatingip_formatv6.clone(),
        };
        Ok(config)
    }
}

/// `nsplane producer` settings.
#[derive(Debug, Clone, Args)]
pub struct ProducerArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The producer's own.
    #[command(flatten)]
    pub producer: ProducerSettings,
}

/// `nsplane mdns` settings.
#[derive(Debug, Clone, Args)]
pub struct MdnsArgs {
    /// Shared settings.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address mdns listens on, UDP and TCP (port 0 picks one).
    #[arg(long, env = "NSPLANE_MDNS_LISTEN", default_value = "127.0.0.1:5354")]
    pub mdns_listen: SocketAddr,
    /// TSIG keys for mdns (YAML list of name, algorithm, secret, scope POOL|ZONE, resource_id).
    #[arg(long, env = "NSPLANE_TSIG_KEYS")]
    pub tsig_keys: Option<PathBuf>,
    /// Refuse unsigned zone transfers.
    #[arg(long, env = "NSPLANE_REQUIRE_TSIG")]
    pub require_tsig: bool,
}

/// Resolved connection settings, shared by every role of a process.
#[derive(Debug, Clone)]
pub struct Connections {
    /// NATS.
    pub nats: NatsConfig,
    /// PostgreSQL.
    pub pg: PgConfig,
    /// Event store layout.
    pub store: StoreConfig,
    /// Default quotas of every project (Designate's resource names).
    pub quotas: nsplane_schema::quotas::Quotas,
}

impl CommonArgs {
    /// Validates the shared settings; a role needs both URLs.
    pub fn connections(&self) -> anyhow::Result<Connections> {
        let nats_url = self
            .nats_url
            .clone()
            .context("no NATS URL: pass --nats-url or NSPLANE_NATS_URL (only `nsplane all` starts its own)")?;
        let database_url = self.database_url.clone().context(
            "no PostgreSQL URL: pass --database-url or NSPLANE_DATABASE_URL (only `nsplane all` starts its own)",
        )?;
        self.connections_to(nats_url, database_url)
    }

    /// Validates the shared settings; a tool without URLs finds those of the dev-mode instance running
    /// on `data_dir`.
    pub fn tool_connections(&self, data_dir: Option<&std::path::Path>) -> anyhow::Result<Connections> {
        match (data_dir, &self.nats_url, &self.database_url) {
            (Some(dir), None, None) => {
                let (nats, database) = nsplane_runtime::devmode::running_servers(dir)?;
                self.connections_to(nats, database)
            }
            _ => self.connections(),
        }
    }

    /// Validates the shared settings with the given URLs.
    pub fn connections_to(&self, nats_url: String, database_url: String) -> anyhow::Result<Connections> {
        let layout = Layout::new(&self.prefix).context("--prefix")?;
        anyhow::ensure!(
            matches!(self.stream_replicas, 1 | 3 | 5),
            "--stream-replicas must be 1, 3 or 5"
        );
        let mut store = StoreConfig::new(layout);
        store.replicas = self.stream_replicas;
        anyhow::ensure!(
            (1..=86_400).contains(&self.duplicate_window_secs),
            "--duplicate-window-secs must be between 1 and 86400"
        );
        store.duplicate_window = Duration::from_secs(self.duplicate_window_secs);
        let quotas: nsplane_schema::quotas::Quotas = [
            ("zones", self.quota_zones),
            ("zone_recordsets", self.quota_zone_recordsets),
            ("zone_records", self.quota_zone_records),
            ("recordset_records", self.quota_recordset_records),
            ("api_export_size", self.quota_api_export_size),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        nsplane_schema::quotas::check_quotas(&quotas).context("quota defaults")?;
        Ok(Connections {
            quotas,
            nats: NatsConfig { url: nats_url },
            pg: PgConfig {
                url: database_url,
                pool_size: self.database_pool_size,
            },
            store,
        })
    }

    /// Checks `--pools`, if given (for `--check-config`, and before anything is committed).
    pub fn check_pools(&self) -> anyhow::Result<Option<String>> {
        self.pools.as_deref().map(read_pools).transpose()
    }
}

/// Reads and validates a pools file.
pub fn read_pools(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    Pools::parse(&text).with_context(|| format!("in {}", path.display()))?;
    Ok(text)
}

impl Connections {
    /// Central's configuration.
    pub fn central(&self) -> nsplane_projection::CentralConfig {
        nsplane_projection::CentralConfig::new(self.nats.clone(), self.pg.clone(), self.store.layout.clone())
    }

    /// The worker's configuration.
    pub fn worker(&self) -> nsplane_dataplane::WorkerConfig {
        nsplane_dataplane::WorkerConfig::new(self.nats.clone(), self.store.clone(), self.pg.clone())
    }

    /// mdns's configuration.
    pub fn mdns(&self, tsig: MdnsTsig) -> nsplane_dataplane::mdns::MdnsConfig {
        nsplane_dataplane::mdns::MdnsConfig {
            nats: self.nats.clone(),
            store: self.store.clone(),
            pg: self.pg.clone(),
            keys: tsig.keys,
            require_tsig: tsig.required,
        }
    }
}

impl ApiArgs {
    /// The API role's configuration over `connections`.
    pub fn api_role(&self, connections: &Connections) -> anyhow::Result<nsplane_api::ApiRoleConfig> {
        Ok(nsplane_api::ApiRoleConfig {
            nats: connections.nats.clone(),
            store: connections.store.clone(),
            pg: connections.pg.clone(),
            api: self.api_config()?,
            zone_cache: self.zone_cache,
            quota_defaults: connections.quotas.clone(),
            zone_defaults: ZoneDefaults::default(),
        })
    }

    /// Validates the HTTP settings.
    pub fn api_config(&self) -> anyhow::Result<nsplane_api::ApiConfig> {
        let auth = match self.auth_strategy {
            AuthStrategyArg::Noauth => nsplane_api::AuthStrategy::Noauth,
            AuthStrategyArg::Keystone => {
                let url = self
                    .keystone_url
                    .clone()
                    .context("--auth-strategy keystone needs --keystone-url")?;
                let password = self
                    .keystone_password
                    .clone()
                    .context("--auth-strategy keystone needs --keystone-password")?;
                nsplane_api::AuthStrategy::Keystone(nsplane_api::KeystoneConfig {
                    url,
                    username: self.keystone_username.clone(),
                    password,
                    project_name: self.keystone_project_name.clone(),
                    user_domain_name: self.keystone_domain_name.clone(),
                    project_domain_name: self.keystone_domain_name.clone(),
                    cache_ttl: Duration::from_secs(self.keystone_cache_secs),
                    cache_size: 10_000,
                    timeout: Duration::from_secs(5),
                })
            }
        };
        Ok(nsplane_api::ApiConfig {
            auth,
            base_uri: self.api_base_uri.clone(),
            proxy_headers: self.enable_proxy_headers_parsing,
            read_your_writes_wait: Duration::from_secs(5),
            ..Default::default()
        })
    }
}

/// mdns's TSIG settings.
#[derive(Debug, Clone, Default)]
pub struct MdnsTsig {
    /// The keys.
    pub keys: nsplane_dataplane::tsig::Keys,
    /// Refuse unsigned transfers.
    pub required: bool,
}

/// mdns's TSIG settings from flags.
pub fn mdns_tsig(keys: Option<&std::path::Path>, required: bool) -> anyhow::Result<MdnsTsig> {
    let keys = match keys {
        Some(path) => nsplane_dataplane::tsig::Keys::load(path)?,
        None => nsplane_dataplane::tsig::Keys::default(),
    };
    Ok(MdnsTsig { keys, required })
}
