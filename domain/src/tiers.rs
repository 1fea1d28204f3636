//! The admins' tier editor: a tier as typed into the form (every field text), checked field by
//! field and turned into a [`Tier`].

use serde::{Deserialize, Serialize};

use crate::tenancy::{FieldError, Lifetime, Tier, TierSpec};

pub const MAX_TIER_NAME: usize = 30;
pub const MAX_TIER_DESCRIPTION: usize = 200;

/// A tier as the form holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierDraft {
    pub name: String,
    pub description: String,
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub storage: String,
    pub pvcs: String,
    pub pods: String,
    pub services: String,
    pub default_request_cpu: String,
    pub default_request_memory: String,
    pub default_limit_cpu: String,
    pub default_limit_memory: String,
    pub needs_approval: bool,
    /// [`Lifetime::as_str`] values.
    pub lifetimes: Vec<String>,
    /// The clusters it is offered on, by name; none: every cluster.
    #[serde(default)]
    pub clusters: Vec<String>,
}

impl TierDraft {
    /// The form filled in with a stored tier.
    pub fn of(tier: &Tier) -> TierDraft {
        let s = &tier.spec;
        TierDraft {
            name: tier.name.clone(),
            description: tier.description.clone(),
            requests_cpu: s.requests_cpu.clone(),
            requests_memory: s.requests_memory.clone(),
            limits_cpu: s.limits_cpu.clone(),
            limits_memory: s.limits_memory.clone(),
            storage: s.storage.clone(),
            pvcs: s.pvcs.to_string(),
            pods: s.pods.to_string(),
            services: s.services.to_string(),
            default_request_cpu: s.default_request_cpu.clone(),
            default_request_memory: s.default_request_memory.clone(),
            default_limit_cpu: s.default_limit_cpu.clone(),
            default_limit_memory: s.default_limit_memory.clone(),
            needs_approval: s.needs_approval,
            lifetimes: s.lifetimes.iter().map(|l| l.as_str().to_owned()).collect(),
            clusters: s.clusters.clone(),
        }
    }
}

impl TierDraft {
    /// The text field called `field` (as in [`QUANTITY_FIELDS`], [`COUNT_FIELDS`], `name`,
    /// `description`), for a form that edits them all alike.
    pub fn text_mut(&mut self, field: &str) -> Option<&mut String> {
        Some(match field {
            "name" => &mut self.name,
            "description" => &mut self.description,
            "requests_cpu" => &mut self.requests_cpu,
            "requests_memory" => &mut self.requests_memory,
            "limits_cpu" => &mut self.limits_cpu,
            "limits_memory" => &mut self.limits_memory,
            "storage" => &mut self.storage,
            "pvcs" => &mut self.pvcs,
            "pods" => &mut self.pods,
            "services" => &mut self.services,
            "default_request_cpu" => &mut self.default_request_cpu,
            "default_request_memory" => &mut self.default_request_memory,
            "default_limit_cpu" => &mut self.default_limit_cpu,
            "default_limit_memory" => &mut self.default_limit_memory,
            _ => return None,
        })
    }

    pub fn text(&self, field: &str) -> String {
        self.clone().text_mut(field).cloned().unwrap_or_default()
    }

    /// The list of ticked values called `field` (`lifetimes`, `clusters`), for a form that
    /// ticks them alike.
    pub fn ticked_mut(&mut self, field: &str) -> Option<&mut Vec<String>> {
        match field {
            "lifetimes" => Some(&mut self.lifetimes),
            "clusters" => Some(&mut self.clusters),
            _ => None,
        }
    }

    pub fn ticked(&self, field: &str) -> &[String] {
        match field {
            "lifetimes" => &self.lifetimes,
            "clusters" => &self.clusters,
            _ => &[],
        }
    }
}

/// The text fields of the form: (field, label), in form order.
pub const QUANTITY_FIELDS: [(&str, &str); 9] = [
    ("requests_cpu", "Requests CPU"),
    ("requests_memory", "Requests memory"),
    ("limits_cpu", "Limits CPU"),
    ("limits_memory", "Limits memory"),
    ("storage", "Storage"),
    ("default_request_cpu", "Default request CPU"),
    ("default_request_memory", "Default request memory"),
    ("default_limit_cpu", "Default limit CPU"),
    ("default_limit_memory", "Default limit memory"),
];

pub const COUNT_FIELDS: [(&str, &str); 3] =
    [("pvcs", "PVCs"), ("pods", "Pods"), ("services", "Services")];

fn error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The tier a draft describes, or every problem with it by field. The cross-field rules
/// (a default request above its limit, …) come from [`TierSpec::problems`] under `spec`.
pub fn tier_from_draft(draft: &TierDraft) -> Result<Tier, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = draft.name.trim();
    let name_ok = !name.is_empty()
        && name.len() <= MAX_TIER_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !name_ok {
        errors.push(error(
            "name",
            format!(
                "1 to {MAX_TIER_NAME} lower-case letters, digits or '-' (it becomes a label value)"
            ),
        ));
    }
    let description = draft.description.trim();
    if description.chars().count() > MAX_TIER_DESCRIPTION {
        errors.push(error(
            "description",
            format!("at most {MAX_TIER_DESCRIPTION} characters"),
        ));
    } else if description.chars().any(char::is_control) {
        errors.push(error("description", "control characters are not allowed"));
    }
    let count = |field: &str, text: &str, errors: &mut Vec<FieldError>| -> u32 {
        match text.trim().parse::<u32>() {
            Ok(n) if n <= 100_000 => n,
            _ => {
                errors.push(error(field, "a whole number from 0 to 100000"));
                0
            }
        }
    };
    let pvcs = count("pvcs", &draft.pvcs, &mut errors);
    let pods = count("pods", &draft.pods, &mut errors);
    let services = count("services", &draft.services, &mut errors);
    let mut lifetimes = Vec::new();
    for text in &draft.lifetimes {
        match Lifetime::parse(text) {
            // The test lifetime is config's to offer, never a tier's.
            Some(l) if l != Lifetime::Test => {
                if !lifetimes.contains(&l) {
                    lifetimes.push(l);
                }
            }
            _ => errors.push(error("lifetimes", format!("unknown lifetime {text:?}"))),
        }
    }
    lifetimes.sort_by_key(|l| Lifetime::ALL.iter().position(|a| a == l));
    // Names of the fleet's clusters (whether each is in the fleet is the service's to say).
    let mut clusters: Vec<String> = Vec::new();
    for name in &draft.clusters {
        let name = name.trim();
        if !crate::fleet::valid_name(name) {
            let shown: String = name.chars().take(40).collect();
            errors.push(error("clusters", format!("{shown:?} is no cluster name")));
        } else if !clusters.iter().any(|c| c == name) {
            clusters.push(name.to_owned());
        }
    }
    clusters.sort();
    let spec = TierSpec {
        requests_cpu: draft.requests_cpu.trim().to_owned(),
        requests_memory: draft.requests_memory.trim().to_owned(),
        limits_cpu: draft.limits_cpu.trim().to_owned(),
        limits_memory: draft.limits_memory.trim().to_owned(),
        storage: draft.storage.trim().to_owned(),
        pvcs,
        pods,
        services,
        default_request_cpu: draft.default_request_cpu.trim().to_owned(),
        default_request_memory: draft.default_request_memory.trim().to_owned(),
        default_limit_cpu: draft.default_limit_cpu.trim().to_owned(),
        default_limit_memory: draft.default_limit_memory.trim().to_owned(),
        needs_approval: draft.needs_approval,
        lifetimes,
        clusters,
    };
    // Quantity problems by their field; the rest (pairs, lifetimes) under `spec`.
    for (field, label) in QUANTITY_FIELDS {
        if let Err(e) = crate::quantity::parse(draft.text(field).trim()) {
            errors.push(error(field, format!("{label}: {e}")));
        }
    }
    let has_field_error = |p: &str| {
        QUANTITY_FIELDS.iter().any(|(_, label)| {
            p.to_lowercase()
                .starts_with(&format!("{}:", label.to_lowercase()))
        })
    };
    for problem in spec.problems() {
        if !has_field_error(&problem) {
            errors.push(error("spec", problem));
        }
    }
    if errors.is_empty() {
        Ok(Tier {
            name: name.to_owned(),
            description: description.to_owned(),
            spec,
        })
    } else {
        Err(errors)
    }
}

/// What saving a tier answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TierOutcome {
    Invalid(Vec<FieldError>),
    Saved { name: String, created: bool },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::seed_tiers;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_seeded_tier_goes_round_the_form_unchanged() {
        for tier in seed_tiers() {
            assert_eq!(tier_from_draft(&TierDraft::of(&tier)), Ok(tier));
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut d = TierDraft::of(&seed_tiers()[0]);
        d.name = "Big Tier".to_owned();
        d.requests_cpu = "lots".to_owned();
        d.pods = "-1".to_owned();
        d.lifetimes = vec!["7d".to_owned(), "forever".to_owned()];
        d.description = "x".repeat(MAX_TIER_DESCRIPTION + 1);
        let errors = tier_from_draft(&d).expect_err("invalid");
        assert_eq!(
            fields(&errors),
            ["name", "description", "pods", "lifetimes", "requests_cpu"]
        );
    }

    #[test]
    fn cross_field_rules_come_under_spec_and_the_test_lifetime_is_refused() {
        let mut d = TierDraft::of(&seed_tiers()[0]);
        d.default_request_cpu = "2".to_owned();
        d.default_limit_cpu = "1".to_owned();
        d.lifetimes = vec!["test".to_owned()];
        let errors = tier_from_draft(&d).expect_err("invalid");
        assert_eq!(fields(&errors), ["lifetimes", "spec", "spec"]);
        assert!(errors[1].message.contains("exceeds"), "{errors:?}");
        assert!(errors[2].message.contains("at least one lifetime"));
    }

    #[test]
    fn clusters_are_names_kept_once_in_order() {
        let mut d = TierDraft::of(&seed_tiers()[0]);
        d.clusters = vec![
            "us-dev".to_owned(),
            " eu-prod".to_owned(),
            "us-dev".to_owned(),
        ];
        let tier = tier_from_draft(&d).expect("valid");
        assert_eq!(tier.spec.clusters, ["eu-prod", "us-dev"]);
        assert!(tier.spec.offered_on("us-dev"));
        assert!(!tier.spec.offered_on("ap-stage"));
        assert!(
            seed_tiers()[0].spec.offered_on("anywhere"),
            "none: every cluster"
        );
        d.clusters = vec!["<b>".to_owned()];
        assert_eq!(fields(&tier_from_draft(&d).expect_err("bad")), ["clusters"]);
    }

    #[test]
    fn lifetimes_are_kept_once_in_their_usual_order() {
        let mut d = TierDraft::of(&seed_tiers()[0]);
        d.lifetimes = vec!["30d".to_owned(), "1d".to_owned(), "30d".to_owned()];
        let tier = tier_from_draft(&d).expect("valid");
        assert_eq!(
            tier.spec.lifetimes,
            [Lifetime::OneDay, Lifetime::ThirtyDays]
        );
    }
}
