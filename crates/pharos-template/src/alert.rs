//! Alert rule templates as Prometheus runs them: the text gets a prelude defining `$labels`,
//! `$externalLabels`, `$externalURL` and `$value`, and runs against the alert's data.

use std::collections::BTreeMap;

use crate::env::Env;
use crate::error::TemplateError;
use crate::value::Value;
use crate::Template;

/// What Prometheus puts before every alert label and annotation template.
pub const ALERT_TEMPLATE_PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Go's name for the anonymous struct Prometheus passes to alert templates.
const ALERT_DATA_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }";

/// A rule's label or annotation text, parsed once (with the prelude) and expanded per alert.
///
/// Text without any action is kept as is and never parsed, since expanding it gives the text.
#[derive(Debug, Clone)]
pub struct AlertTemplate {
    /// `None` for plain text.
    template: Option<Template>,
    text: String,
}

impl AlertTemplate {
    /// Parses `text` as Prometheus would for the alert rule named in `name`
    /// (`__alert_<rule>`); errors are Prometheus's parse errors.
    pub fn parse(name: &str, text: &str) -> Result<AlertTemplate, TemplateError> {
        if !text.contains("{{") {
            return Ok(AlertTemplate {
                template: None,
                text: text.to_string(),
            });
        }
        let template = Template::parse(name, &format!("{ALERT_TEMPLATE_PRELUDE}{text}"))?;
        Ok(AlertTemplate {
            template: Some(template),
            text: text.to_string(),
        })
    }

    /// The text as written in the rule.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Expands the text for one alert: `labels` are the alert's series labels, `value` its
    /// sample value.
    pub fn expand(
        &self,
        labels: &BTreeMap<String, String>,
        external_labels: &BTreeMap<String, String>,
        external_url: &str,
        value: f64,
        env: &Env,
    ) -> Result<String, TemplateError> {
        let Some(template) = &self.template else {
            return Ok(self.text.clone());
        };
        let data = Value::record(
            ALERT_DATA_TYPE,
            [
                ("Labels", Value::from(labels)),
                ("ExternalLabels", Value::from(external_labels)),
                ("ExternalURL", Value::from(external_url)),
                ("Value", Value::Float(value)),
            ],
        );
        template.execute(&data, env)
    }
}

/// Expands a rule's annotation or label text as Prometheus's alerting rules do (parsing it each
/// time, as Prometheus does; [`AlertTemplate`] parses once): the text gets the prelude defining
/// `$labels`, `$externalLabels`, `$externalURL` and `$value`, and runs against data with the
/// fields `Labels`, `ExternalLabels`, `ExternalURL` and `Value`.
pub fn expand_alert_text(
    name: &str,
    text: &str,
    labels: &BTreeMap<String, String>,
    external_labels: &BTreeMap<String, String>,
    external_url: &str,
    value: f64,
    env: &Env,
) -> Result<String, TemplateError> {
    AlertTemplate::parse(name, text)?.expand(labels, external_labels, external_url, value, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept_and_templates_are_reusable() {
        let labels: BTreeMap<String, String> = [("job".to_string(), "node".to_string())]
            .into_iter()
            .collect();
        let none = BTreeMap::new();
        let env = Env::default();
        let plain = AlertTemplate::parse("__alert_A", "no actions } here {");
        assert_eq!(
            plain
                .and_then(|t| t.expand(&labels, &none, "", 1.0, &env))
                .as_deref(),
            Ok("no actions } here {")
        );
        let t = match AlertTemplate::parse("__alert_A", "{{ $labels.job }}={{ $value }}") {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            t.expand(&labels, &none, "", 1.5, &env).as_deref(),
            Ok("node=1.5")
        );
        assert_eq!(
            t.expand(&labels, &none, "", 2.0, &env).as_deref(),
            Ok("node=2")
        );
        assert_eq!(t.text(), "{{ $labels.job }}={{ $value }}");
    }
}
