//! The JSON every front door shows and reads: `skyline … --json`, the admin
//! API's bodies, and the `components.schemas` of its OpenAPI document, which
//! [`schemas`] generates from these very types. A front door never builds
//! JSON by hand.
//!
//! Output views are built from domain records (`From`); input bodies turn
//! into domain commands, whose rules decide whether they are valid.
//!
//! | module | what it holds |
//! | --- | --- |
//! | `catalog` | products, plans, license keys, devices |
//! | `toggles` | feature toggle values and layers |
//! | `releases` | releases and admin API tokens |
//! | `journal` | audit entries, telemetry pages and exports |
//! | `requests` | the admin API's request bodies and error body |

mod catalog;
mod journal;
mod releases;
mod requests;
mod toggles;

pub use catalog::*;
pub use journal::*;
pub use releases::*;
pub use requests::*;
pub use toggles::*;

/// The `components.schemas` of the admin API's OpenAPI 3.0 document,
/// generated from the types above.
pub fn schemas() -> serde_json::Map<String, serde_json::Value> {
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<ProductView>();
    generator.subschema_for::<PlanView>();
    generator.subschema_for::<LicenseView>();
    generator.subschema_for::<CreatedLicenses>();
    generator.subschema_for::<ToggleView>();
    generator.subschema_for::<ToggleSet>();
    generator.subschema_for::<ReleaseView>();
    generator.subschema_for::<AdminTokenView>();
    generator.subschema_for::<AuditView>();
    generator.subschema_for::<TelemetryPage>();
    generator.subschema_for::<Revoked>();
    generator.subschema_for::<Reset>();
    generator.subschema_for::<Expiry>();
    generator.subschema_for::<Removed>();
    generator.subschema_for::<ErrorBody>();
    generator.subschema_for::<NewProduct>();
    generator.subschema_for::<ProductChange>();
    generator.subschema_for::<NewPlan>();
    generator.subschema_for::<NewLicenses>();
    generator.subschema_for::<DeviceChoice>();
    generator.subschema_for::<NewToggleValue>();
    generator.take_definitions(true)
}

#[cfg(test)]
mod tests {
    use skyline_protocol::dates::PlanDuration;
    use skyline_protocol::methods::ToggleValue;

    use super::*;
    use crate::domain::Plan;

    #[test]
    fn views_write_the_documented_json() {
        let plan = Plan {
            id: "p".into(),
            product_id: "telepower".into(),
            duration: PlanDuration::Months(1),
            seats: 2,
        };
        assert_eq!(
            serde_json::to_value(PlanView::from(&plan)).unwrap(),
            serde_json::json!({"id": "p", "product": "telepower", "months": 1, "days": null,
                               "perpetual": false, "devices": 2})
        );
        let value: NewToggleValue = serde_json::from_str(r#"{"value": 1.5}"#).unwrap();
        assert_eq!(ToggleValue::from(value.value), ToggleValue::Float(1.5));
        let value: NewToggleValue = serde_json::from_str(r#"{"value": 150}"#).unwrap();
        assert_eq!(ToggleValue::from(value.value), ToggleValue::Int(150));
        assert!(serde_json::from_str::<NewToggleValue>(r#"{"value": [1]}"#).is_err());
    }

    #[test]
    fn schemas_are_generated_for_every_view() {
        let schemas = schemas();
        for name in [
            "Product", "Plan", "License", "Device", "Toggle", "Release", "Error",
        ] {
            assert!(
                schemas.contains_key(name),
                "{name} missing: {:?}",
                schemas.keys()
            );
        }
        // OpenAPI 3.0 forbids an empty `required` list.
        for (name, schema) in &schemas {
            if let Some(required) = schema.get("required") {
                assert!(!required.as_array().unwrap().is_empty(), "{name}");
            }
        }
    }
}
