//! Pools: the pool configuration aggregate's contract (one aggregate holding every pool, changed as a
//! whole as Designate's `pool update --file` does) and the model of Designate's `pools.yaml`, parsed and
//! validated here once for every role: which name servers a zone's NS records name, which targets the
//! worker pushes to, which name servers it polls, and each pool's catalog zone. Unknown keys are refused,
//! so a typo never silently drops a target.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::envelope::Event;
use crate::ids::DEFAULT_POOL_ID;
use crate::name::DnsName;
use crate::zone::NsRecord;
use crate::PoolId;

/// The aggregate type of the pool configuration.
pub const POOLS_AGGREGATE: &str = "pools";

/// The id of the one pool-configuration aggregate.
pub const POOLS_ID: &str = "all";

/// Everything that can happen to the pool configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PoolsEvent {
    /// A new configuration, in Designate's `pools.yaml` format, validated, replaces the previous one.
    #[serde(rename = "PoolsConfigured.v1")]
    PoolsConfigured {
        /// The whole document.
        pools_yaml: String,
    },
}

impl Event for PoolsEvent {
    const AGGREGATE_TYPE: &'static str = POOLS_AGGREGATE;

    fn event_type(&self) -> &'static str {
        match self {
            PoolsEvent::PoolsConfigured { .. } => "PoolsConfigured",
        }
    }
}

/// Why a pools document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PoolsError(pub String);

fn refuse<T>(message: String) -> Result<T, PoolsError> {
    Err(PoolsError(message))
}

/// The description of dev mode's own pool, by which a restart recognises it.
pub const DEV_POOL_MARK: &str = "dev mode, the local mdns is the only name server";

/// One pool, as in Designate's `pools.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// Pool id; the pool named `default` gets Designate's default pool id when absent.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Scheduler attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_yaml::Value>,
    /// The zones' apex NS records and SOA MNAME.
    pub ns_records: Vec<PoolNsRecord>,
    /// The servers polled for the zone's serial.
    #[serde(default)]
    pub nameservers: Vec<HostPort>,
    /// The servers made to serve the zones.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Extra NOTIFY destinations.
    #[serde(default)]
    pub also_notifies: Vec<HostPort>,
    /// The pool's RFC 9432 catalog zone.
    #[serde(default)]
    pub catalog_zone: Option<CatalogZone>,
    /// Share of `nameservers` that must serve a serial for the zone to be ACTIVE (Designate's
    /// `threshold_percentage`, default 100).
    #[serde(default = "default_threshold")]
    pub threshold_percentage: u8,
}

fn default_threshold() -> u8 {
    100
}

/// A pool name server record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolNsRecord {
    /// FQDN.
    pub hostname: String,
    /// Lower first.
    pub priority: u32,
}

/// An address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPort {
    /// IP address.
    pub host: String,
    /// Port (53 when absent).
    #[serde(default = "dns_port")]
    pub port: u16,
    /// TSIG key that signs requests to it (23.0.0).
    #[serde(default)]
    pub tsigkey_id: Option<String>,
}

fn dns_port() -> u16 {
    53
}

impl HostPort {
    /// The socket address.
    pub fn addr(&self) -> Result<SocketAddr, PoolsError> {
        match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SocketAddr::new(ip, self.port)),
            Err(_) => refuse(format!("{:?} is not an IP address", self.host)),
        }
    }
}

/// A target: a server the worker makes serve the pool's zones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Backend driver: `catalog` (membership through the pool's catalog zone), `bind9`, `pdns4`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The mdns servers the target transfers from.
    #[serde(default)]
    pub masters: Vec<HostPort>,
    /// Driver options; `host`/`port` say where NOTIFY goes.
    #[serde(default)]
    pub options: BTreeMap<String, serde_yaml::Value>,
    /// TSIG key that signs NOTIFY (23.0.0).
    #[serde(default)]
    pub tsigkey_id: Option<String>,
}

impl Target {
    /// A string option.
    pub fn option(&self, key: &str) -> Option<String> {
        match self.options.get(key)? {
            serde_yaml::Value::String(s) => Some(s.clone()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            serde_yaml::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Where NOTIFY goes: `options.host` and `options.port` (53).
    pub fn notify_addr(&self) -> Result<SocketAddr, PoolsError> {
        let Some(host) = self.option("host") else {
            return refuse("target has no options.host".into());
        };
        let port = match self.option("port") {
            Some(port) => match port.parse::<u16>() {
                Ok(port) => port,
                Err(_) => return refuse(format!("options.port {port:?} is not a port number")),
            },
            None => 53,
        };
        HostPort {
            host,
            port,
            tsigkey_id: None,
        }
        .addr()
    }
}

/// A pool's catalog zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogZone {
    /// Its name.
    pub catalog_zone_fqdn: String,
    /// SOA refresh of the catalog.
    #[serde(default = "catalog_refresh")]
    pub catalog_zone_refresh: u32,
    /// TSIG key name for transfers of the catalog.
    #[serde(default)]
    pub catalog_zone_tsig_key: Option<String>,
    /// Its algorithm.
    #[serde(default)]
    pub catalog_zone_tsig_algorithm: Option<String>,
}

fn catalog_refresh() -> u32 {
    60
}

/// Every pool, validated.
#[derive(Debug, Clone)]
pub struct Pools {
    pools: Vec<(PoolId, Pool)>,
}

impl Pools {
    /// Parses and validates a `pools.yaml` document.
    pub fn parse(yaml: &str) -> Result<Self, PoolsError> {
        let raw: Vec<Pool> = serde_yaml::from_str(yaml)
            .map_err(|e| PoolsError(format!("pools file is not a list of pools in Designate's format: {e}")))?;
        if raw.is_empty() {
            return refuse("the pools file defines no pool".into());
        }
        let mut pools = Vec::new();
        for pool in raw {
            let id = match pool.id {
                Some(id) => PoolId(id),
                None if pool.name == "default" => DEFAULT_POOL_ID,
                None => {
                    return refuse(format!(
                        "pool {:?} needs an id (only the pool named default may omit it)",
                        pool.name
                    ))
                }
            };
            let name = &pool.name;
            if pool.ns_records.is_empty() {
                return refuse(format!("pool {name:?} has no ns_records"));
            }
            for ns in &pool.ns_records {
                if let Err(e) = DnsName::parse(&ns.hostname) {
                    return refuse(format!("pool {name:?}: bad ns_records hostname {:?}: {e}", ns.hostname));
                }
            }
            for ns in pool.nameservers.iter().chain(&pool.also_notifies) {
                ns.addr().map_err(|e| PoolsError(format!("pool {name:?}: {e}")))?;
            }
            for target in &pool.targets {
                if !matches!(target.kind.as_str(), "catalog" | "bind9" | "pdns4") {
                    return refuse(format!(
                        "pool {name:?}: target type {:?} is not supported (catalog, bind9, pdns4)",
                        target.kind
                    ));
                }
            }
            if let Some(catalog) = &pool.catalog_zone {
                if let Err(e) = DnsName::parse(&catalog.catalog_zone_fqdn) {
                    return refuse(format!("pool {name:?}: bad catalog_zone_fqdn: {e}"));
                }
            }
            if !(1..=100).contains(&pool.threshold_percentage) {
                return refuse(format!("pool {name:?}: threshold_percentage must be 1..=100"));
            }
            if pools
                .iter()
                .any(|(other, p): &(PoolId, Pool)| *other == id || p.name == pool.name)
            {
                return refuse(format!("pool {name:?} is defined twice"));
            }
            pools.push((id, pool));
        }
        Ok(Self { pools })
    }

    /// Dev mode's pool: its name server is the local mdns, which is also the one name server polled.
    pub fn dev(mdns: SocketAddr) -> Self {
        #[allow(clippy::expect_used)]
        Self::parse(&Self::dev_yaml(mdns)).expect("the dev pool is valid")
    }

    /// Dev mode's pool as `pools.yaml` text.
    pub fn dev_yaml(mdns: SocketAddr) -> String {
        format!(
            "- name: default\n  description: \"{DEV_POOL_MARK}\"\n  \
             ns_records:\n    - hostname: ns1.nsplane.test.\n      priority: 1\n  \
             nameservers:\n    - host: {}\n      port: {}\n",
            mdns.ip(),
            mdns.port()
        )
    }

    /// The pool new zones go to (`default`, else the first).
    pub fn default_pool(&self) -> (PoolId, &Pool) {
        let (id, pool) = self
            .pools
            .iter()
            .find(|(id, _)| *id == DEFAULT_POOL_ID)
            .unwrap_or(&self.pools[0]);
        (*id, pool)
    }

    /// A pool by id.
    pub fn get(&self, id: PoolId) -> Option<&Pool> {
        self.pools.iter().find(|(pid, _)| *pid == id).map(|(_, p)| p)
    }

    /// Every pool.
    pub fn iter(&self) -> impl Iterator<Item = (PoolId, &Pool)> {
        self.pools.iter().map(|(id, p)| (*id, p))
    }
}

impl Pool {
    /// The NS records new zones get.
    pub fn ns_records(&self) -> Vec<NsRecord> {
        self.ns_records
            .iter()
            .filter_map(|ns| {
                DnsName::parse(&ns.hostname).ok().map(|hostname| NsRecord {
                    hostname,
                    priority: ns.priority,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESIGNATE_SAMPLE: &str = r#"
- name: default
  description: Default BIND9 Pool
  attributes: {}
  ns_records:
    - hostname: ns1-1.example.org.
      priority: 1
    - hostname: ns1-2.example.org.
      priority: 2
  nameservers:
    - host: 192.0.2.2
      port: 53
  targets:
    - type: bind9
      description: BIND9 Server 1
      masters:
        - host: 192.0.2.1
          port: 5354
      options:
        host: 192.0.2.2
        port: 53
        rndc_host: 192.0.2.2
        rndc_port: 953
        rndc_key_file: /etc/designate/rndc.key
  also_notifies:
    - host: 192.0.2.4
      port: 53
  catalog_zone:
    catalog_zone_fqdn: cat.example.org.
    catalog_zone_refresh: 60
"#;

    #[test]
    fn designates_sample_pools_file_loads() {
        let pools = Pools::parse(DESIGNATE_SAMPLE).expect("valid");
        let (id, pool) = pools.default_pool();
        assert_eq!(id, DEFAULT_POOL_ID);
        assert_eq!(pool.ns_records().len(), 2);
        assert_eq!(
            pool.targets[0].notify_addr().expect("addr"),
            "192.0.2.2:53".parse().expect("addr")
        );
        assert_eq!(pool.targets[0].option("rndc_port").as_deref(), Some("953"));
        assert_eq!(pool.threshold_percentage, 100);
    }

    #[test]
    fn the_dev_pool_polls_the_local_mdns() {
        let pools = Pools::dev("127.0.0.1:5354".parse().expect("addr"));
        let (_, pool) = pools.default_pool();
        assert_eq!(
            pool.nameservers[0].addr().expect("addr"),
            "127.0.0.1:5354".parse().expect("addr")
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Pools::parse(&DESIGNATE_SAMPLE.replace("also_notifies", "also_notfies")).is_err());
        assert!(Pools::parse(&DESIGNATE_SAMPLE.replace("type: bind9", "type: route53")).is_err());
        assert!(Pools::parse(&DESIGNATE_SAMPLE.replace("host: 192.0.2.4", "host: not-an-ip")).is_err());
        assert!(Pools::parse("[]").is_err());
    }
}
