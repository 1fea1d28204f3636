//! Namespaces as Berth hands them out: tiers, requests and their validation, the state a
//! request moves through, and the exact manifests provisioning applies (the preview shows the
//! same values, rendered by [`crate::yaml`]).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::quantity;

/// Field manager of every server-side apply Berth makes.
pub const FIELD_MANAGER: &str = "berth";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "berth");
pub const LABEL_REQUEST: &str = "berth.dev/request";
pub const LABEL_TEAM: &str = "berth.dev/team";
pub const LABEL_TIER: &str = "berth.dev/tier";
pub const ANNOTATION_OWNER: &str = "berth.dev/owner";
pub const ANNOTATION_CONTACT: &str = "berth.dev/contact";
pub const ANNOTATION_COST_CENTRE: &str = "berth.dev/cost-centre";
pub const ANNOTATION_PURPOSE: &str = "berth.dev/purpose";
pub const ANNOTATION_EXPIRES: &str = "berth.dev/expires-at";

/// The longest free-text field Berth accepts (purpose); contact and cost centre are shorter.
pub const MAX_PURPOSE: usize = 500;
pub const MAX_SHORT_FIELD: usize = 120;

/// The cluster group a team's members carry (the `O` of the certificates Berth issues; map
/// the IdP's groups to it when the cluster trusts the IdP).
pub fn team_group(team: &str) -> String {
    format!("berth:team:{team}")
}

/// How long a namespace lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Lifetime {
    OneDay,
    SevenDays,
    ThirtyDays,
    Permanent,
    /// One minute, to watch expiry happen: offered only where config turns it on (the demo).
    Test,
}

impl Lifetime {
    pub const ALL: [Lifetime; 4] = [
        Lifetime::OneDay,
        Lifetime::SevenDays,
        Lifetime::ThirtyDays,
        Lifetime::Permanent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lifetime::OneDay => "1d",
            Lifetime::SevenDays => "7d",
            Lifetime::ThirtyDays => "30d",
            Lifetime::Permanent => "permanent",
            Lifetime::Test => "test",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Lifetime::OneDay => "1 day",
            Lifetime::SevenDays => "7 days",
            Lifetime::ThirtyDays => "30 days",
            Lifetime::Permanent => "permanent",
            Lifetime::Test => "1 minute (test)",
        }
    }

    pub fn parse(text: &str) -> Option<Lifetime> {
        Lifetime::ALL
            .into_iter()
            .chain([Lifetime::Test])
            .find(|l| l.as_str() == text)
    }

    /// Seconds until expiry; `None` for permanent.
    pub fn seconds(self) -> Option<i64> {
        const DAY: i64 = 86_400;
        match self {
            Lifetime::OneDay => Some(DAY),
            Lifetime::SevenDays => Some(7 * DAY),
            Lifetime::ThirtyDays => Some(30 * DAY),
            Lifetime::Permanent => None,
            Lifetime::Test => Some(60),
        }
    }
}

/// What a tier grants a namespace. Quantities are Kubernetes quantity strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierSpec {
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub storage: String,
    pub pvcs: u32,
    pub pods: u32,
    pub services: u32,
    /// LimitRange defaults for containers that set none.
    pub default_request_cpu: String,
    pub default_request_memory: String,
    pub default_limit_cpu: String,
    pub default_limit_memory: String,
    pub needs_approval: bool,
    pub lifetimes: Vec<Lifetime>,
    /// The clusters of the fleet it is offered on, by name; none: every cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
}

/// A tier as admins name and order it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tier {
    pub name: String,
    pub description: String,
    pub spec: TierSpec,
}

impl TierSpec {
    /// Whether a namespace on the cluster of this name may have the tier.
    pub fn offered_on(&self, cluster: &str) -> bool {
        self.clusters.is_empty() || self.clusters.iter().any(|c| c == cluster)
    }

    /// Every problem with a tier an admin edits, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let quantities = [
            ("requests CPU", &self.requests_cpu),
            ("requests memory", &self.requests_memory),
            ("limits CPU", &self.limits_cpu),
            ("limits memory", &self.limits_memory),
            ("storage", &self.storage),
            ("default request CPU", &self.default_request_cpu),
            ("default request memory", &self.default_request_memory),
            ("default limit CPU", &self.default_limit_cpu),
            ("default limit memory", &self.default_limit_memory),
        ];
        for (what, text) in quantities {
            if let Err(e) = quantity::parse(text) {
                out.push(format!("{what}: {e}"));
            }
        }
        let pairs = [
            (
                "default request CPU",
                &self.default_request_cpu,
                "default limit CPU",
                &self.default_limit_cpu,
            ),
            (
                "default request memory",
                &self.default_request_memory,
                "default limit memory",
                &self.default_limit_memory,
            ),
            (
                "requests CPU",
                &self.requests_cpu,
                "limits CPU",
                &self.limits_cpu,
            ),
            (
                "requests memory",
                &self.requests_memory,
                "limits memory",
                &self.limits_memory,
            ),
        ];
        for (low_name, low, high_name, high) in pairs {
            if let (Ok(l), Ok(h)) = (quantity::parse(low), quantity::parse(high))
                && l > h
            {
                out.push(format!("{low_name} ({low}) exceeds {high_name} ({high})"));
            }
        }
        if self.lifetimes.is_empty() {
            out.push("a tier must allow at least one lifetime".to_owned());
        }
        out
    }
}

/// What a developer fills in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceDraft {
    pub name: String,
    pub team: String,
    pub purpose: String,
    pub contact: String,
    pub cost_centre: String,
    pub tier: String,
    /// One of [`Lifetime::as_str`].
    pub lifetime: String,
    /// Deny ingress from other namespaces (on by default).
    pub network_policy: bool,
    /// The cluster it lives on, by its name in the fleet; empty: the home cluster.
    #[serde(default)]
    pub cluster: String,
}

impl NamespaceDraft {
    /// The cluster it is for, by fleet name: `home` when it names none (the form's first
    /// choice, and requests from before the fleet).
    pub fn cluster_or<'a>(&'a self, home: &'a str) -> &'a str {
        if self.cluster.is_empty() {
            home
        } else {
            &self.cluster
        }
    }
}

/// A message for one form field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// A problem with what was sent as a whole, no one field's.
    pub fn whole(message: String) -> Self {
        FieldError {
            field: String::new(),
            message,
        }
    }
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// What validation needs to know besides the draft.
#[derive(Clone, Copy)]
pub struct DraftContext<'a> {
    pub user_teams: &'a [String],
    /// Admins may request for any team.
    pub admin: bool,
    pub tiers: &'a [Tier],
    /// Names and prefixes config reserves, besides the built-in ones.
    pub reserved: Reserved<'a>,
    /// Names that exist in the cluster or belong to an open request.
    pub taken: &'a dyn Fn(&str) -> bool,
    /// Whether config offers [`Lifetime::Test`] (on every tier).
    pub test_lifetime: bool,
    /// The clusters of the fleet, by name.
    pub clusters: &'a [String],
}

/// Names Kubernetes or Berth itself use.
/// Names no team may take: Kubernetes' own, and the namespaces well-known platform add-ons
/// install into (a team holding `monitoring` or `cert-manager` first would squat on what a
/// platform team installs later, and on the network policies that trust those names).
const RESERVED_EXACT: [&str; 24] = [
    "default",
    "monitoring",
    "prometheus",
    "grafana",
    "logging",
    "ingress-nginx",
    "ingress",
    "cert-manager",
    "external-dns",
    "external-secrets",
    "istio-system",
    "istio-ingress",
    "linkerd",
    "linkerd-viz",
    "argocd",
    "flux-system",
    "gatekeeper-system",
    "kyverno",
    "velero",
    "metallb-system",
    "calico-system",
    "tigera-operator",
    "cilium",
    "vault",
];
const RESERVED_PREFIXES: [&str; 3] = ["kube-", "berth", "openshift-"];

/// What the operator's configuration reserves besides the built-in names and prefixes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reserved<'a> {
    pub prefixes: &'a [String],
    pub names: &'a [String],
}

/// A namespace name: a DNS-1123 label, at most 63 characters, not reserved.
pub fn check_name(name: &str, reserved: Reserved<'_>) -> Result<(), String> {
    check_label(name)?;
    if RESERVED_EXACT.contains(&name) || reserved.names.iter().any(|n| n == name) {
        return Err(format!("{name:?} is reserved"));
    }
    let prefix = RESERVED_PREFIXES
        .iter()
        .map(|p| p.to_string())
        .chain(reserved.prefixes.iter().cloned())
        .find(|p| !p.is_empty() && name.starts_with(p.as_str()));
    if let Some(prefix) = prefix {
        return Err(format!("names starting with {prefix:?} are reserved"));
    }
    Ok(())
}

/// A DNS-1123 label of at most 63 characters, whatever is reserved.
pub fn check_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name is required".to_owned());
    }
    if name.len() > 63 {
        return Err(format!(
            "at most 63 characters (this one has {})",
            name.chars().count()
        ));
    }
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_chars {
        return Err("only lower-case letters, digits and '-' are allowed".to_owned());
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must start and end with a letter or digit".to_owned());
    }
    Ok(())
}

fn check_text(field: &str, text: &str, max: usize, required: bool) -> Option<FieldError> {
    let count = text.chars().count();
    if required && text.trim().is_empty() {
        Some(field_error(field, "required"))
    } else if count > max {
        Some(field_error(
            field,
            format!("at most {max} characters (this has {count})"),
        ))
    } else if crate::text::has_forbidden(text, true) {
        Some(field_error(
            field,
            "control and invisible formatting characters are not allowed",
        ))
    } else if text.contains(['<', '>']) {
        // Shown in pages, annotations and kubectl output; markup has no business there.
        Some(field_error(field, "markup (< or >) is not allowed"))
    } else {
        None
    }
}

/// Every problem with a draft, by field; empty when it may be submitted.
pub fn validate(draft: &NamespaceDraft, ctx: &DraftContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match check_name(&draft.name, ctx.reserved) {
        Err(message) => errors.push(field_error("name", message)),
        Ok(()) if (ctx.taken)(&draft.name) => errors.push(field_error(
            "name",
            if draft.cluster.is_empty() {
                format!(
                    "{} is taken (in the cluster or by an open request)",
                    draft.name
                )
            } else {
                format!(
                    "{} is taken on {} (in the cluster or by an open request)",
                    draft.name, draft.cluster
                )
            },
        )),
        Ok(()) => {}
    }
    if !draft.cluster.is_empty() && !ctx.clusters.iter().any(|c| c == &draft.cluster) {
        errors.push(field_error(
            "cluster",
            format!(
                "unknown cluster {:?}: one of {}",
                draft.cluster,
                ctx.clusters.join(", ")
            ),
        ));
    }
    if draft.team.is_empty() {
        errors.push(field_error("team", "choose a team"));
    } else if !ctx.admin && !ctx.user_teams.iter().any(|t| t == &draft.team) {
        errors.push(field_error(
            "team",
            format!("you are not a member of team {}", draft.team),
        ));
    }
    errors.extend(check_text("purpose", &draft.purpose, MAX_PURPOSE, true));
    errors.extend(check_text("contact", &draft.contact, MAX_SHORT_FIELD, true));
    errors.extend(check_text(
        "cost_centre",
        &draft.cost_centre,
        MAX_SHORT_FIELD,
        true,
    ));
    let tier = ctx.tiers.iter().find(|t| t.name == draft.tier);
    let lifetime = Lifetime::parse(&draft.lifetime);
    match tier {
        None => errors.push(field_error(
            "tier",
            format!("unknown tier {:?}", draft.tier),
        )),
        Some(tier) => {
            // The draft's cluster by name (none: the home cluster, the fleet's first).
            let cluster = if draft.cluster.is_empty() {
                ctx.clusters.first().map_or("", String::as_str)
            } else {
                draft.cluster.as_str()
            };
            if !tier.spec.offered_on(cluster) {
                errors.push(field_error(
                    "tier",
                    format!(
                        "tier {} is not offered on {cluster}: only on {}",
                        tier.name,
                        tier.spec.clusters.join(", ")
                    ),
                ));
            }
            // The test lifetime is config's, on every tier (or unknown, below).
            if let Some(l) = lifetime
                && l != Lifetime::Test
                && !tier.spec.lifetimes.contains(&l)
            {
                let allowed: Vec<&str> = tier.spec.lifetimes.iter().map(|l| l.label()).collect();
                errors.push(field_error(
                    "lifetime",
                    format!("tier {} allows {} only", tier.name, allowed.join(", ")),
                ));
            }
        }
    }
    if lifetime.is_none() || (lifetime == Some(Lifetime::Test) && !ctx.test_lifetime) {
        errors.push(field_error(
            "lifetime",
            format!("unknown lifetime {:?}", draft.lifetime),
        ));
    }
    errors
}

/// The longest reason an approver may give.
pub const MAX_DECISION_REASON: usize = 500;

/// An approver's reason, trimmed: bounded, and required to deny (the requester reads it).
pub fn decision_reason(reason: &str, approve: bool) -> Result<String, String> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_DECISION_REASON {
        return Err(format!(
            "a reason may be at most {MAX_DECISION_REASON} characters"
        ));
    }
    if crate::text::has_forbidden(reason, true) {
        return Err("a reason may not contain control characters".to_owned());
    }
    if !approve && reason.is_empty() {
        return Err("say why you deny it: the requester sees your reason".to_owned());
    }
    Ok(reason.to_owned())
}

/// Whether a request must wait for a manager: the tier says so, or it never expires.
pub fn needs_approval(tier: &TierSpec, lifetime: Lifetime) -> bool {
    tier.needs_approval || lifetime == Lifetime::Permanent
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RequestState {
    Pending,
    Approved,
    Denied,
    Provisioning,
    Ready,
    Failed,
    /// Past its expiry; Berth recorded that it will delete the namespace.
    Expiring,
    /// Deleted at expiry.
    Expired,
}

impl RequestState {
    pub const ALL: [RequestState; 8] = [
        RequestState::Pending,
        RequestState::Approved,
        RequestState::Denied,
        RequestState::Provisioning,
        RequestState::Ready,
        RequestState::Failed,
        RequestState::Expiring,
        RequestState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Provisioning => "provisioning",
            RequestState::Ready => "ready",
            RequestState::Failed => "failed",
            RequestState::Expiring => "expiring",
            RequestState::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<RequestState> {
        RequestState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing more happens to it on its own.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RequestState::Denied
                | RequestState::Ready
                | RequestState::Failed
                | RequestState::Expired
        )
    }

    /// Whether the name stays reserved for this request.
    pub fn holds_name(self) -> bool {
        !matches!(
            self,
            RequestState::Denied | RequestState::Failed | RequestState::Expired
        )
    }

    /// The transitions provisioning and review may make.
    pub fn may_become(self, next: RequestState) -> bool {
        use RequestState::*;
        matches!(
            (self, next),
            (Pending, Approved | Denied)
                | (Approved, Provisioning)
                | (Provisioning, Provisioning | Ready | Failed)
                | (Failed, Provisioning)
                | (Ready, Expiring)
                | (Expiring, Expired)
        )
    }
}

/// A namespace request as the requests table shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestView {
    pub id: String,
    pub name: String,
    /// The cluster it lives on (its fleet name).
    pub cluster: String,
    pub team: String,
    pub tier: String,
    pub lifetime: String,
    pub requester: String,
    pub state: RequestState,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub expires_at: Option<String>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    /// The last provisioning error while it is retried, or why it failed.
    pub last_error: Option<String>,
    pub attempts: i32,
    /// Whether the viewer may approve or deny it (and it is pending).
    pub can_decide: bool,
    /// Whether the viewer may download a kubeconfig for it (and it is ready).
    pub can_download: bool,
    /// Whether the viewer may ask to extend it or change its quota (and it is ready).
    pub can_change: bool,
    /// Lifetimes an extension may add (the tier's, [`Lifetime::as_str`]); empty when permanent.
    pub extend_options: Vec<String>,
    /// Set within three days of expiry.
    pub expiry_warning: Option<String>,
    /// The manifests it applies, for approvers and the requester.
    pub preview: String,
}

/// The warning a namespace shows as its expiry nears: three days out, then one day out.
pub fn expiry_warning(seconds_left: i64) -> Option<String> {
    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;
    match seconds_left {
        s if s <= 0 => Some("expired: Berth deletes it shortly".to_owned()),
        s if s <= DAY => Some(format!(
            "expires in {} h: extend it or save what you need",
            (s + HOUR - 1) / HOUR
        )),
        s if s <= 3 * DAY => Some(format!("expires in {} days", (s + DAY - 1) / DAY)),
        _ => None,
    }
}

/// What the form learns from the server while someone types.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DraftCheck {
    pub errors: Vec<FieldError>,
    /// The manifests the draft would apply, once the fields they depend on are valid.
    pub preview: Option<String>,
    pub needs_approval: bool,
}

/// What submitting a draft gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SubmitOutcome {
    /// Field errors; nothing was stored.
    Invalid(Vec<FieldError>),
    Submitted {
        id: String,
        state: RequestState,
    },
}

/// What the onboarding form offers the signed-in user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnboardingChoices {
    /// Where a namespace may go, the home cluster first.
    #[serde(default)]
    pub clusters: Vec<ClusterChoice>,
    pub teams: Vec<String>,
    pub tiers: Vec<Tier>,
    /// Lifetimes the form offers (each tier allows a subset; the test lifetime when on).
    pub lifetimes: Vec<Lifetime>,
}

/// A cluster the form offers: its name and how pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterChoice {
    pub name: String,
    pub label: String,
}

/// Everything provisioning needs, fixed when the request is made so that the preview a
/// requester and an approver see is what gets applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub request_id: String,
    pub draft: NamespaceDraft,
    pub requester: String,
    pub tier: TierSpec,
    /// RFC 3339, UTC; `None` for permanent namespaces.
    pub expires_at: Option<String>,
}

/// One object to apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub body: Value,
}

/// Names of the objects Berth puts into a namespace.
pub const ROLE_BINDING: &str = "berth-edit";
pub const QUOTA: &str = "berth-quota";
pub const LIMIT_RANGE: &str = "berth-defaults";
pub const NETWORK_POLICY: &str = "berth-deny-other-namespaces";

fn labels(plan: &Plan) -> Value {
    json!({
        MANAGED_BY.0: MANAGED_BY.1,
        LABEL_REQUEST: plan.request_id,
        LABEL_TEAM: plan.draft.team,
    })
}

fn object(plan: &Plan, api_version: &str, kind: &str, name: &str, namespaced: bool) -> Value {
    let mut metadata = json!({ "name": name, "labels": labels(plan) });
    if namespaced {
        metadata["namespace"] = json!(plan.draft.name);
    }
    json!({ "apiVersion": api_version, "kind": kind, "metadata": metadata })
}

fn manifest(api_version: &str, kind: &str, name: &str, ns: Option<&str>, body: Value) -> Manifest {
    Manifest {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: ns.map(str::to_owned),
        body,
    }
}

/// The objects a request becomes, in the order they are applied: Namespace, RoleBinding,
/// ResourceQuota, LimitRange, NetworkPolicy (when asked for).
pub fn manifests(plan: &Plan) -> Vec<Manifest> {
    let ns = plan.draft.name.as_str();
    let tier = &plan.tier;

    let mut namespace = object(plan, "v1", "Namespace", ns, false);
    namespace["metadata"]["labels"][LABEL_TIER] = json!(plan.draft.tier);
    namespace["metadata"]["annotations"] = json!({
        ANNOTATION_OWNER: plan.requester,
        LABEL_TEAM: plan.draft.team,
        ANNOTATION_CONTACT: plan.draft.contact,
        ANNOTATION_COST_CENTRE: plan.draft.cost_centre,
        ANNOTATION_PURPOSE: plan.draft.purpose,
        ANNOTATION_EXPIRES: plan.expires_at.clone().unwrap_or_else(|| "never".to_owned()),
        LABEL_REQUEST: plan.request_id,
    });

    let mut binding = object(
        plan,
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        ROLE_BINDING,
        true,
    );
    binding["roleRef"] = json!({
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "edit",
    });
    binding["subjects"] = json!([
        { "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": plan.requester },
        { "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": team_group(&plan.draft.team) },
    ]);

    let mut quota = object(plan, "v1", "ResourceQuota", QUOTA, true);
    quota["spec"] = json!({ "hard": {
        "requests.cpu": tier.requests_cpu,
        "requests.memory": tier.requests_memory,
        "limits.cpu": tier.limits_cpu,
        "limits.memory": tier.limits_memory,
        "requests.storage": tier.storage,
        "persistentvolumeclaims": tier.pvcs.to_string(),
        "pods": tier.pods.to_string(),
        "services": tier.services.to_string(),
    }});

    let mut limits = object(plan, "v1", "LimitRange", LIMIT_RANGE, true);
    limits["spec"] = json!({ "limits": [{
        "type": "Container",
        "defaultRequest": { "cpu": tier.default_request_cpu, "memory": tier.default_request_memory },
        "default": { "cpu": tier.default_limit_cpu, "memory": tier.default_limit_memory },
    }]});

    let mut out = vec![
        manifest("v1", "Namespace", ns, None, namespace),
        manifest(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            ROLE_BINDING,
            Some(ns),
            binding,
        ),
        manifest("v1", "ResourceQuota", QUOTA, Some(ns), quota),
        manifest("v1", "LimitRange", LIMIT_RANGE, Some(ns), limits),
    ];
    if plan.draft.network_policy {
        let mut policy = object(
            plan,
            "networking.k8s.io/v1",
            "NetworkPolicy",
            NETWORK_POLICY,
            true,
        );
        // Pods of this namespace may reach each other; nothing from outside it may come in.
        policy["spec"] = json!({
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{ "from": [{ "podSelector": {} }] }],
        });
        out.push(manifest(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            NETWORK_POLICY,
            Some(ns),
            policy,
        ));
    }
    out
}

/// The preview: every manifest as YAML, in apply order, as one multi-document stream.
pub fn preview(plan: &Plan) -> String {
    manifests(plan)
        .iter()
        .map(|m| crate::yaml::to_yaml(&m.body))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Whether `actual` (as read back from the cluster) carries everything `intended` sets: every
/// field Berth applies is present with the same value. Extra fields the cluster adds are fine.
pub fn holds(intended: &Value, actual: &Value) -> bool {
    match (intended, actual) {
        (Value::Object(want), Value::Object(have)) => want
            .iter()
            .all(|(k, v)| have.get(k).is_some_and(|h| holds(v, h))),
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| holds(w, h))
        }
        // The API server writes quantities in canonical form (`0.5` comes back as `500m`).
        (Value::String(want), Value::String(have)) => {
            want == have
                || matches!(
                    (quantity::parse(want), quantity::parse(have)),
                    (Ok(a), Ok(b)) if (a - b).abs() <= f64::EPSILON * a.abs().max(1.0)
                )
        }
        _ => intended == actual,
    }
}

/// The tiers a fresh installation starts with.
pub fn seed_tiers() -> Vec<Tier> {
    let spec = |cpu: &str, mem: &str, lcpu: &str, lmem: &str, storage: &str, n: (u32, u32, u32)| {
        TierSpec {
            requests_cpu: cpu.to_owned(),
            requests_memory: mem.to_owned(),
            limits_cpu: lcpu.to_owned(),
            limits_memory: lmem.to_owned(),
            storage: storage.to_owned(),
            pvcs: n.0,
            pods: n.1,
            services: n.2,
            default_request_cpu: "100m".to_owned(),
            default_request_memory: "128Mi".to_owned(),
            default_limit_cpu: "500m".to_owned(),
            default_limit_memory: "512Mi".to_owned(),
            needs_approval: false,
            lifetimes: Lifetime::ALL.to_vec(),
            clusters: Vec::new(),
        }
    };
    let small = spec("2", "4Gi", "4", "8Gi", "20Gi", (5, 20, 5));
    let medium = spec("8", "16Gi", "16", "32Gi", "100Gi", (10, 60, 15));
    let mut large = spec("32", "64Gi", "64", "128Gi", "500Gi", (25, 200, 40));
    large.needs_approval = true;
    vec![
        Tier {
            name: "small".to_owned(),
            description: "A service or two while you build: 2 CPU, 4 GiB requested".to_owned(),
            spec: small,
        },
        Tier {
            name: "medium".to_owned(),
            description: "A team's staging: 8 CPU, 16 GiB requested".to_owned(),
            spec: medium,
        },
        Tier {
            name: "large".to_owned(),
            description: "Production-sized: 32 CPU, 64 GiB requested; a manager approves"
                .to_owned(),
            spec: large,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> NamespaceDraft {
        NamespaceDraft {
            name: "payments-sandbox".to_owned(),
            team: "payments".to_owned(),
            purpose: "Try the new ledger".to_owned(),
            contact: "dana@example.com".to_owned(),
            cost_centre: "CC-1042".to_owned(),
            tier: "small".to_owned(),
            lifetime: "7d".to_owned(),
            network_policy: true,
            cluster: String::new(),
        }
    }

    /// The fleet the drafts are checked against.
    fn fleet() -> Vec<String> {
        vec!["eu-prod".to_owned(), "us-dev".to_owned()]
    }

    fn check(d: &NamespaceDraft, teams: &[&str], admin: bool) -> Vec<FieldError> {
        let teams: Vec<String> = teams.iter().map(|t| t.to_string()).collect();
        let tiers = seed_tiers();
        let prefixes = vec!["corp-".to_owned()];
        let names = vec!["shared-tools".to_owned()];
        let taken = |n: &str| n == "checkout";
        validate(
            d,
            &DraftContext {
                user_teams: &teams,
                admin,
                tiers: &tiers,
                reserved: Reserved {
                    prefixes: &prefixes,
                    names: &names,
                },
                taken: &taken,
                test_lifetime: false,
                clusters: &fleet(),
            },
        )
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_good_draft_passes() {
        assert!(check(&draft(), &["payments"], false).is_empty());
    }

    #[test]
    fn a_draft_names_a_cluster_of_the_fleet_or_none() {
        let mut d = draft();
        d.cluster = "us-dev".to_owned();
        assert!(check(&d, &["payments"], false).is_empty());
        d.cluster = "mars-1".to_owned();
        let errors = check(&d, &["payments"], false);
        assert_eq!(fields(&errors), ["cluster"]);
        assert_eq!(
            errors[0].message,
            "unknown cluster \"mars-1\": one of eu-prod, us-dev"
        );
    }

    #[test]
    fn names_follow_dns_1123_and_avoid_reserved_ones() {
        let prefixes = vec!["corp-".to_owned()];
        let names = vec!["shared-tools".to_owned()];
        let no_extra = Reserved {
            prefixes: &prefixes,
            names: &names,
        };
        for bad in [
            "",
            "Payments",
            "pay_ments",
            "-pay",
            "pay-",
            "default",
            "kube-system",
            "kube-anything",
            "berth",
            "berth-system",
            "corp-tools",
            "pay.ments",
            "päy",
            "monitoring",
            "ingress-nginx",
            "cert-manager",
            "shared-tools",
        ] {
            assert!(check_name(bad, no_extra).is_err(), "{bad:?} accepted");
        }
        // Only the exact platform names are taken: a team's own monitoring namespace is fine.
        assert!(check_name("payments-monitoring", no_extra).is_ok());
        assert!(check_name(&"a".repeat(63), no_extra).is_ok());
        let long = check_name(&"a".repeat(64), no_extra).expect_err("64 characters");
        assert!(long.contains("63"), "{long}");
        for good in ["a", "payments-1", "9lives", "a-b-c"] {
            assert!(check_name(good, no_extra).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn a_draft_naming_no_cluster_is_the_home_clusters() {
        let mut d = draft();
        assert_eq!(d.cluster_or("eu-prod"), "eu-prod");
        d.cluster = "us-dev".to_owned();
        assert_eq!(d.cluster_or("eu-prod"), "us-dev");
    }

    #[test]
    fn taken_names_are_refused() {
        let mut d = draft();
        d.name = "checkout".to_owned();
        let errors = check(&d, &["payments"], false);
        assert_eq!(fields(&errors), ["name"]);
        assert!(errors[0].message.contains("taken"));
        // Names are unique per cluster: the message says on which.
        d.cluster = "us-dev".to_owned();
        let errors = check(&d, &["payments"], false);
        assert_eq!(
            errors[0].message,
            "checkout is taken on us-dev (in the cluster or by an open request)"
        );
    }

    #[test]
    fn only_members_request_for_a_team_unless_admin() {
        let errors = check(&draft(), &["checkout"], false);
        assert_eq!(fields(&errors), ["team"]);
        assert!(check(&draft(), &[], true).is_empty());
    }

    #[test]
    fn free_text_is_required_and_bounded() {
        let mut d = draft();
        d.purpose = " ".to_owned();
        d.contact = "x".repeat(MAX_SHORT_FIELD + 1);
        d.cost_centre = "a\u{7}b".to_owned();
        let errors = check(&d, &["payments"], false);
        assert_eq!(fields(&errors), ["purpose", "contact", "cost_centre"]);
        // Markup is refused: the UI would escape it, but annotations, kubectl output, CSV and
        // webhooks carry it too.
        d = draft();
        d.purpose = "<script>alert(1)</script>".to_owned();
        assert_eq!(fields(&check(&d, &["payments"], false)), ["purpose"]);
    }

    #[test]
    fn unknown_tiers_and_lifetimes_are_refused() {
        let mut d = draft();
        d.tier = "huge".to_owned();
        d.lifetime = "2d".to_owned();
        assert_eq!(
            fields(&check(&d, &["payments"], false)),
            ["tier", "lifetime"]
        );
    }

    #[test]
    fn a_lifetime_the_tier_does_not_allow_is_refused() {
        let tiers = {
            let mut t = seed_tiers();
            t[0].spec.lifetimes = vec![Lifetime::OneDay, Lifetime::SevenDays];
            t
        };
        let mut d = draft();
        d.lifetime = "permanent".to_owned();
        let teams = vec!["payments".to_owned()];
        let errors = validate(
            &d,
            &DraftContext {
                user_teams: &teams,
                admin: false,
                tiers: &tiers,
                reserved: Reserved::default(),
                taken: &|_| false,
                test_lifetime: false,
                clusters: &[],
            },
        );
        assert_eq!(fields(&errors), ["lifetime"]);
        assert!(
            errors[0].message.contains("1 day, 7 days"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn a_denial_needs_a_reason_and_every_reason_is_bounded() {
        assert_eq!(decision_reason("  ok ", true), Ok("ok".to_owned()));
        assert_eq!(decision_reason("", true), Ok(String::new()));
        assert!(decision_reason(" ", false).is_err_and(|e| e.contains("why")));
        assert!(decision_reason(&"x".repeat(501), true).is_err());
        assert!(decision_reason("ok\u{0}then", true).is_err_and(|e| e.contains("control")));
    }

    #[test]
    fn the_test_lifetime_exists_only_where_config_offers_it() {
        let mut d = draft();
        d.lifetime = "test".to_owned();
        let teams = vec!["payments".to_owned()];
        let tiers = seed_tiers();
        let context = |test_lifetime| DraftContext {
            user_teams: &teams,
            admin: false,
            tiers: &tiers,
            reserved: Reserved::default(),
            taken: &|_| false,
            test_lifetime,
            clusters: &[],
        };
        let refused = validate(&d, &context(false));
        assert_eq!(fields(&refused), ["lifetime"]);
        assert!(refused[0].message.contains("unknown lifetime"));
        assert!(validate(&d, &context(true)).is_empty());
        assert_eq!(Lifetime::Test.seconds(), Some(60));
        assert!(
            !Lifetime::ALL.contains(&Lifetime::Test),
            "never a tier's by default"
        );
    }

    #[test]
    fn large_tiers_and_permanent_namespaces_need_approval() {
        let tiers = seed_tiers();
        assert!(!needs_approval(&tiers[0].spec, Lifetime::SevenDays));
        assert!(needs_approval(&tiers[0].spec, Lifetime::Permanent));
        assert!(needs_approval(&tiers[2].spec, Lifetime::OneDay));
    }

    #[test]
    fn warnings_start_three_days_out_and_sharpen_at_one() {
        assert_eq!(expiry_warning(4 * 86_400), None);
        assert_eq!(
            expiry_warning(3 * 86_400).as_deref(),
            Some("expires in 3 days")
        );
        assert_eq!(
            expiry_warning(86_400 + 1).as_deref(),
            Some("expires in 2 days")
        );
        assert!(expiry_warning(5 * 3600).is_some_and(|w| w.starts_with("expires in 5 h")));
        assert!(expiry_warning(0).is_some_and(|w| w.starts_with("expired")));
    }

    #[test]
    fn states_move_only_forward() {
        use RequestState::*;
        assert!(Pending.may_become(Approved));
        assert!(Pending.may_become(Denied));
        assert!(Approved.may_become(Provisioning));
        assert!(Provisioning.may_become(Ready));
        assert!(Failed.may_become(Provisioning));
        assert!(!Denied.may_become(Approved));
        assert!(!Ready.may_become(Provisioning));
        assert!(!Pending.may_become(Ready));
        assert!(Ready.may_become(Expiring) && Expiring.may_become(Expired));
        assert!(!Expired.holds_name() && Expired.is_final());
        assert!(!Denied.holds_name());
        assert!(Pending.holds_name() && Ready.holds_name());
        for s in RequestState::ALL {
            assert_eq!(RequestState::parse(s.as_str()), Some(s));
        }
    }

    fn plan(network_policy: bool) -> Plan {
        let mut d = draft();
        d.network_policy = network_policy;
        Plan {
            request_id: "nr-1a2b3c4d".to_owned(),
            draft: d,
            requester: "demo:dana".to_owned(),
            tier: seed_tiers()[0].spec.clone(),
            expires_at: Some("2026-11-29T10:00:00Z".to_owned()),
        }
    }

    #[test]
    fn manifests_come_in_apply_order_with_berth_labels() {
        let all = manifests(&plan(true));
        let kinds: Vec<&str> = all.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "RoleBinding",
                "ResourceQuota",
                "LimitRange",
                "NetworkPolicy"
            ]
        );
        for m in &all {
            let labels = &m.body["metadata"]["labels"];
            assert_eq!(
                labels["app.kubernetes.io/managed-by"], "berth",
                "{}",
                m.kind
            );
            assert_eq!(labels["berth.dev/request"], "nr-1a2b3c4d", "{}", m.kind);
            assert_eq!(m.body["kind"], m.kind.as_str());
        }
        assert_eq!(manifests(&plan(false)).len(), 4);
    }

    #[test]
    fn the_namespace_carries_owner_team_contact_cost_centre_and_expiry() {
        let ns = &manifests(&plan(true))[0].body;
        let a = &ns["metadata"]["annotations"];
        assert_eq!(a["berth.dev/owner"], "demo:dana");
        assert_eq!(a["berth.dev/team"], "payments");
        assert_eq!(a["berth.dev/contact"], "dana@example.com");
        assert_eq!(a["berth.dev/cost-centre"], "CC-1042");
        assert_eq!(a["berth.dev/expires-at"], "2026-11-29T10:00:00Z");
        assert_eq!(ns["metadata"]["labels"]["berth.dev/team"], "payments");
        assert!(ns["metadata"].get("namespace").is_none());
    }

    #[test]
    fn quota_and_defaults_come_from_the_tier() {
        let all = manifests(&plan(true));
        let hard = &all[2].body["spec"]["hard"];
        assert_eq!(hard["requests.cpu"], "2");
        assert_eq!(hard["limits.memory"], "8Gi");
        assert_eq!(hard["pods"], "20");
        let binding = &all[1].body;
        assert_eq!(binding["roleRef"]["name"], "edit");
        assert_eq!(binding["subjects"][0]["name"], "demo:dana");
        assert_eq!(binding["subjects"][1]["name"], "berth:team:payments");
        assert_eq!(
            all[3].body["spec"]["limits"][0]["default"]["memory"],
            "512Mi"
        );
    }

    #[test]
    fn the_preview_is_the_manifests_as_yaml() {
        let text = preview(&plan(true));
        assert_eq!(text.matches("---\n").count(), 4);
        assert!(text.contains("kind: Namespace\n"));
        assert!(text.contains("  name: payments-sandbox\n"));
        assert!(text.contains("requests.cpu: '2'"), "{text}");
    }

    #[test]
    fn holds_ignores_what_the_cluster_adds_but_not_what_differs() {
        let want = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"hard": {"pods": "5"}}});
        let have = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}}, "spec": {"hard": {"pods": "5"}}, "status": {}});
        assert!(holds(&want, &have));
        let changed = json!({"metadata": {"name": "a", "labels": {"x": "2"}}, "spec": {"hard": {"pods": "5"}}});
        assert!(!holds(&want, &changed));
        assert!(holds(&json!({"cpu": "0.5"}), &json!({"cpu": "500m"})));
        assert!(!holds(&json!({"cpu": "0.5"}), &json!({"cpu": "5"})));
    }

    #[test]
    fn seeded_tiers_are_valid() {
        for tier in seed_tiers() {
            assert!(
                tier.spec.problems().is_empty(),
                "{}: {:?}",
                tier.name,
                tier.spec.problems()
            );
        }
        let mut broken = seed_tiers()[0].spec.clone();
        broken.requests_cpu = "lots".to_owned();
        broken.default_request_memory = "1Gi".to_owned();
        broken.lifetimes.clear();
        assert_eq!(broken.problems().len(), 3, "{:?}", broken.problems());
    }
}
