//! Service discovery mechanisms that Prometheus has and Pharos does not implement yet.
//!
//! A scrape config using one is refused with a message saying exactly that, at the line of
//! the field, rather than with serde's "unknown field", which reads like a typo and lists
//! every field but the one the user meant.

use serde::{de::Error as _, Deserializer};

/// The value of a `<kind>_sd_configs` field Pharos knows but cannot honour. It has no values:
/// reading the field is always an error, so a parsed config never holds one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnsupportedSd {}

/// The service discovery kinds Pharos does implement, named in the error.
const SUPPORTED: &str = "static_configs, file_sd_configs, http_sd_configs, dns_sd_configs";

macro_rules! unsupported_sd_readers {
    ($($reader:ident => $field:literal),* $(,)?) => {
        $(
            #[doc = concat!("Refuses `", $field, "`.")]
            pub(crate) fn $reader<'de, D: Deserializer<'de>>(
                _: D,
            ) -> Result<Option<UnsupportedSd>, D::Error> {
                Err(D::Error::custom(concat!(
                    $field,
                    " is not supported yet by pharos; supported service discovery: "
                )
                .to_string()
                    + SUPPORTED))
            }
        )*
    };
}

unsupported_sd_readers! {
    azure => "azure_sd_configs",
    consul => "consul_sd_configs",
    digitalocean => "digitalocean_sd_configs",
    docker => "docker_sd_configs",
    dockerswarm => "dockerswarm_sd_configs",
    ec2 => "ec2_sd_configs",
    eureka => "eureka_sd_configs",
    gce => "gce_sd_configs",
    hetzner => "hetzner_sd_configs",
    ionos => "ionos_sd_configs",
    kubernetes => "kubernetes_sd_configs",
    kuma => "kuma_sd_configs",
    lightsail => "lightsail_sd_configs",
    linode => "linode_sd_configs",
    marathon => "marathon_sd_configs",
    nerve => "nerve_sd_configs",
    nomad => "nomad_sd_configs",
    openstack => "openstack_sd_configs",
    ovhcloud => "ovhcloud_sd_configs",
    puppetdb => "puppetdb_sd_configs",
    scaleway => "scaleway_sd_configs",
    serverset => "serverset_sd_configs",
    triton => "triton_sd_configs",
    uyuni => "uyuni_sd_configs",
    vultr => "vultr_sd_configs",
}
