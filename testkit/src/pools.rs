//! A builder of pool configurations in Designate's `pools.yaml` format, for tests and benchmarks.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// One pool being described.
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    name: String,
    id: Option<String>,
    ns_records: Vec<String>,
    nameservers: Vec<SocketAddr>,
    targets: Vec<String>,
    catalog: Option<String>,
    extra: String,
}

impl PoolBuilder {
    /// The pool named `default` (Designate's default pool id) with one NS record.
    pub fn default_pool() -> Self {
        Self::named("default", None)
    }

    /// A pool; every pool but `default` needs an id.
    pub fn named(name: &str, id: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            id: id.map(str::to_owned),
            ns_records: vec!["ns1.example.net.".to_owned()],
            nameservers: Vec::new(),
            targets: Vec::new(),
            catalog: None,
            extra: String::new(),
        }
    }

    /// Replaces the NS records (the zones' apex NS and SOA MNAME).
    pub fn ns_records(mut self, hostnames: &[&str]) -> Self {
        self.ns_records = hostnames.iter().map(|h| (*h).to_owned()).collect();
        self
    }

    /// A name server the worker polls.
    pub fn nameserver(mut self, addr: SocketAddr) -> Self {
        self.nameservers.push(addr);
        self
    }

    /// A `catalog` target: it learns zones from the catalog zone and transfers them from `mdns`.
    pub fn catalog_target(mut self, secondary: SocketAddr, mdns: SocketAddr) -> Self {
        self.targets.push(format!(
            "    - type: catalog\n      masters:\n        - host: {}\n          port: {}\n      options:\n        host: {}\n        port: {}\n",
            mdns.ip(),
            mdns.port(),
            secondary.ip(),
            secondary.port()
        ));
        self
    }

    /// Any target, as YAML lines indented for the `targets` list.
    pub fn raw_target(mut self, yaml: &str) -> Self {
        self.targets.push(yaml.to_owned());
        self
    }

    /// The pool's catalog zone.
    pub fn catalog_zone(mut self, fqdn: &str) -> Self {
        self.catalog = Some(fqdn.to_owned());
        self
    }

    /// Extra keys of the pool, as YAML lines indented two spaces.
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "- name: {}", self.name);
        if let Some(id) = &self.id {
            let _ = writeln!(out, "  id: {id}");
        }
        out.push_str("  ns_records:\n");
        for (i, ns) in self.ns_records.iter().enumerate() {
            let _ = writeln!(out, "    - hostname: {ns}\n      priority: {}", i + 1);
        }
        if !self.nameservers.is_empty() {
            out.push_str("  nameservers:\n");
            for ns in &self.nameservers {
                let _ = writeln!(out, "    - host: {}\n      port: {}", ns.ip(), ns.port());
            }
        }
        if !self.targets.is_empty() {
            out.push_str("  targets:\n");
            for target in &self.targets {
                out.push_str(target);
            }
        }
        if let Some(catalog) = &self.catalog {
            let _ = writeln!(out, "  catalog_zone:\n    catalog_zone_fqdn: {catalog}");
        }
        out.push_str(&self.extra);
    }
}

/// A pools document of several pools.
pub fn yaml(pools: &[PoolBuilder]) -> String {
    let mut out = String::new();
    for pool in pools {
        pool.render(&mut out);
    }
    out
}

/// The usual test pool: `default`, its name servers the given secondaries (each a catalog consumer of
/// the pool's catalog zone, transferring from `mdns`).
pub fn catalog_pool(mdns: SocketAddr, secondaries: &[SocketAddr], catalog: &str) -> String {
    let mut pool = PoolBuilder::default_pool().catalog_zone(catalog);
    for secondary in secondaries {
        pool = pool.nameserver(*secondary).catalog_target(*secondary, mdns);
    }
    yaml(&[pool])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_is_a_valid_pools_file() {
        let mdns: SocketAddr = "127.0.0.1:5354".parse().expect("addr");
        let bind: SocketAddr = "127.0.0.1:5300".parse().expect("addr");
        let text = catalog_pool(mdns, &[bind], "catalog.example.test.");
        let pools = nsplane_schema::pools::Pools::parse(&text).expect("valid pools");
        let (_, pool) = pools.default_pool();
        assert_eq!(pool.targets.len(), 1);
        assert_eq!(pool.nameservers[0].addr().expect("addr"), bind);
        assert_eq!(
            pool.catalog_zone.as_ref().map(|c| c.catalog_zone_fqdn.as_str()),
            Some("catalog.example.test.")
        );
    }
}
