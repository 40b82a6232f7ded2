//! Embedding the HTTP client fields in another configuration mapping.
//!
//! Prometheus writes `basic_auth`, `tls_config` and friends directly inside a scrape config, an
//! `http_sd_configs` entry, or a `remote_write`/`remote_read` entry. serde's `flatten` cannot be combined with `deny_unknown_fields`
//! (and loses error positions), so the structs that embed these fields are declared through
//! this macro, which spells the fields out and converts them back to an [`HttpClientConfig`].
//!
//! [`HttpClientConfig`]: $crate::HttpClientConfig

/// Declares `$name` with the given fields plus every `HttpClientConfig` field, and a
/// `take_http_client` method that moves the latter out as an `HttpClientConfig`.
#[macro_export]
macro_rules! with_http_client_fields {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($body:tt)* }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($body)*
            #[serde(default)]
            basic_auth: Option<$crate::BasicAuth>,
            #[serde(default)]
            authorization: Option<$crate::Authorization>,
            #[serde(default)]
            oauth2: Option<$crate::OAuth2>,
            #[serde(default)]
            bearer_token: $crate::Secret,
            #[serde(default)]
            bearer_token_file: Option<std::path::PathBuf>,
            #[serde(default)]
            tls_config: $crate::TlsConfig,
            #[serde(default)]
            proxy_url: Option<String>,
            #[serde(default)]
            no_proxy: Option<String>,
            #[serde(default)]
            proxy_from_environment: bool,
            #[serde(default)]
            follow_redirects: Option<bool>,
            #[serde(default)]
            enable_http2: Option<bool>,
        }

        impl $name {
            /// Moves the embedded HTTP client fields out, applying Prometheus's defaults.
            fn take_http_client(&mut self) -> $crate::HttpClientConfig {
                $crate::HttpClientConfig {
                    basic_auth: self.basic_auth.take(),
                    authorization: self.authorization.take(),
                    oauth2: self.oauth2.take(),
                    bearer_token: std::mem::take(&mut self.bearer_token),
                    bearer_token_file: self.bearer_token_file.take(),
                    tls_config: std::mem::take(&mut self.tls_config),
                    proxy_url: self.proxy_url.take(),
                    no_proxy: self.no_proxy.take(),
                    proxy_from_environment: self.proxy_from_environment,
                    follow_redirects: self.follow_redirects.unwrap_or(true),
                    enable_http2: self.enable_http2.unwrap_or(true),
                }
            }
        }
    };
}
