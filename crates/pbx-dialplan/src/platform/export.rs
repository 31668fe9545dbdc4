//! `vpbx platform export`: the platform as YAML that `vpbx platform apply` accepts back.

use pbx_core::server_config::Codec;
use pbx_core::tenant::yaml_document;

use super::PlatformConfig;

/// The first line of an export made without `--secrets`.
pub const SECRETS_OMITTED_NOTE: &str =
    "# Trunk secrets (secret, reg_secret) were omitted; applying this file keeps the stored ones.";

/// The platform file's codec names: Asterisk's (`alaw`, `ulaw`, `g722`); SDP's
/// (`PCMA`, `PCMU`, `G722`) are accepted too.
pub(super) fn codec_from_name(name: &str) -> Option<Codec> {
    match name.to_ascii_lowercase().as_str() {
        "alaw" | "pcma" => Some(Codec::Pcma),
        "ulaw" | "pcmu" => Some(Codec::Pcmu),
        "g722" => Some(Codec::G722),
        _ => Codec::from_name(name),
    }
}

pub(super) fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::Pcma => "alaw",
        Codec::Pcmu => "ulaw",
        Codec::G722 => "g722",
        // A codec added to the relay later: its SDP name, which parses back.
        _ => c.name(),
    }
}

pub(super) fn codecs<S: serde::Serializer>(codecs: &[Codec], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(codecs.iter().map(|c| codec_name(*c)))
}

impl serde::Serialize for crate::Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PlatformConfig {
    /// The platform as YAML. With `with_secrets = false` every `secret` and `reg_secret`
    /// is left out and the first line says so.
    pub fn export_yaml(&self, with_secrets: bool) -> String {
        if with_secrets {
            return yaml_document(self, None);
        }
        let mut redacted = self.clone();
        for t in &mut redacted.trunks {
            t.secret = None;
            t.reg_secret = None;
        }
        yaml_document(&redacted, Some(SECRETS_OMITTED_NOTE))
    }
}
