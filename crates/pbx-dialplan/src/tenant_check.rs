//! Checks of a tenant file that need the numbering tables or the platform file, run by
//! `vpbx tenant apply` after the tenant's own validation.

use pbx_core::{ConfigError, TenantConfig};

use crate::platform::yaml::invalid;

use crate::numbering::emergency_numbers;
use crate::platform::Platform;

/// Refuses an extension equal to one of the tenant country's emergency numbers (exact
/// match: 1010 next to 101 is fine), and `numbers:` the platform does not bind to this
/// tenant (`platform`: the applied platform file, `None` before the first one).
pub fn check_tenant(tenant: &TenantConfig, platform: Option<&Platform>) -> Result<(), ConfigError> {
    if let Some(country) = tenant.country.as_deref() {
        let emergency = emergency_numbers(country);
        if let Some((ext, owner)) = tenant
            .dialable()
            .into_iter()
            .find(|(e, _)| emergency.contains(e))
        {
            return Err(invalid(
                format!("{owner}.ext"),
                format!(
                    "\"{ext}\" is an emergency number in {country}; phones must reach the emergency services with it"
                ),
            ));
        }
    }
    let bound = |n: &str| {
        platform
            .and_then(|p| p.number(n))
            .is_some_and(|b| b.tenant.eq_ignore_ascii_case(&tenant.domain))
    };
    let mut named: Vec<(String, &str)> = tenant
        .numbers
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("numbers[{i}].number"), n.number.as_str()))
        .collect();
    if let Some(n) = tenant.outbound.as_ref().and_then(|o| o.number.as_deref()) {
        named.push(("outbound.number".into(), n));
    }
    for (i, u) in tenant.users.iter().enumerate() {
        if let Some(n) = u.outbound_number.as_deref() {
            named.push((format!("users[{i}].outbound_number"), n));
        }
    }
    for (path, n) in named {
        if !bound(n) {
            return Err(invalid(
                path,
                format!(
                    "{n} is not bound to {} by the platform file (the operator binds numbers with `vpbx platform apply`)",
                    tenant.domain
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PLATFORM: &str = "trunks:\n  - {name: t, tenant: office.example, host: 127.0.0.1}\nnumbers:\n  - {number: \"+74952216005\", tenant: office.example, trunk: t}\n";

    fn tenant(extra: &str) -> TenantConfig {
        TenantConfig::from_yaml_str(&format!(
            "domain: office.example\ncountry: RU\nusers:\n  - {{ext: \"1010\", name: A, secret: \"secret-1010\"}}\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn an_extension_equal_to_an_emergency_number_is_refused_but_a_longer_one_is_fine() {
        let t = tenant("groups:\n  - {ext: \"112\", name: G, members: [\"1010\"]}\n");
        assert_eq!(
            check_tenant(&t, None).unwrap_err().to_string(),
            "groups[0].ext: \"112\" is an emergency number in RU; phones must reach the emergency services with it"
        );
        assert!(check_tenant(&tenant(""), None).is_ok());
    }

    #[test]
    fn a_number_must_be_bound_to_this_tenant_by_the_platform() {
        let t = tenant("numbers:\n  - {number: \"+74952216005\", route: user:1010}\n");
        assert_eq!(
            check_tenant(&t, None).unwrap_err().to_string(),
            "numbers[0].number: +74952216005 is not bound to office.example by the platform file (the operator binds numbers with `vpbx platform apply`)"
        );
        let p = Platform::from_yaml_str(PLATFORM).unwrap();
        assert!(check_tenant(&t, Some(&p)).is_ok());
        let other = Platform::from_yaml_str(
            &PLATFORM
                .replace(
                    "tenant: office.example, trunk",
                    "tenant: other.example, trunk",
                )
                .replace(
                    "tenant: office.example, host",
                    "tenant: other.example, host",
                ),
        )
        .unwrap();
        assert!(check_tenant(&t, Some(&other)).is_err());
    }
}
