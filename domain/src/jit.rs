//! Just-in-time access: what may be requested, who may approve it, and the names a grant
//! takes in the cluster. The policy is a list of rules an admin edits; a request is held to
//! the first rule that covers its role and scope.

use serde::{Deserialize, Serialize};

use crate::authz::{Actor, Role};

/// Kubernetes identities of grants: user `jit:<request>:<user>` in this group. The chart's
/// admission policy (`berth-jit-guard`) refuses this group everything that would outlive the
/// grant: writing RBAC, minting ServiceAccount tokens, approving certificates.
pub const JIT_GROUP: &str = "berth:jit";
/// The group of grants whose rule allows escalation (`escalation: true`, two approvers): the
/// guard does not hold them.
pub const JIT_ESCALATION_GROUP: &str = "berth:jit-escalation";
/// Namespaces no grant may reach unless the operator's configuration says otherwise: the
/// control plane's own and Berth's (its ServiceAccount can bind roles; the namespace Berth's pod
/// runs in is added at run time whatever its name). Onboarding reserves the same prefixes, so
/// no team's namespace matches.
pub const DEFAULT_PROTECTED: [&str; 2] = ["kube-*", "berth*"];
/// Label on every binding of a grant, so revocation finds them all with one selector.
pub const LABEL_ACCESS_REQUEST: &str = "berth.dev/access-request";
/// The CSR API refuses certificates shorter than this; the binding, not the certificate, is
/// what ends a grant, so a certificate may outlive it by up to this much.
pub const MIN_CERTIFICATE_SECONDS: i64 = 600;
pub const MAX_REASON: usize = 500;
pub const MAX_TICKET: usize = 64;
pub const MAX_COMMENT: usize = 500;
pub const MAX_NAMESPACES: usize = 20;

/// One rule of the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A ClusterRole: `view`, `edit`, `admin` or any other the cluster has.
    pub role: String,
    /// Cluster-wide (a ClusterRoleBinding) rather than in namespaces.
    #[serde(default)]
    pub cluster: bool,
    /// Namespace patterns (`*` matches any run of characters) for namespaced rules.
    #[serde(default)]
    pub namespaces: Vec<String>,
    pub max_minutes: u32,
    /// Distinct approvers needed.
    #[serde(default = "one")]
    pub approvals: u32,
    /// Approvers must share no team with the requester.
    #[serde(default)]
    pub approver_outside_team: bool,
    #[serde(default = "yes")]
    pub reason_required: bool,
    #[serde(default)]
    pub ticket_required: bool,
    /// The requester may approve it themself in an emergency; flagged for review afterwards.
    #[serde(default)]
    pub break_glass: bool,
    /// Who may use break-glass on this rule (Berth roles).
    #[serde(default = "glass_roles")]
    pub break_glass_roles: Vec<String>,
    /// The grant may write RBAC, mint ServiceAccount tokens and approve certificates — things
    /// that outlive it. Needs two approvers and no break-glass.
    #[serde(default)]
    pub escalation: bool,
}

fn one() -> u32 {
    1
}

fn glass_roles() -> Vec<String> {
    vec![
        Role::Sre.as_str().to_owned(),
        Role::Admin.as_str().to_owned(),
    ]
}

impl Rule {
    /// The Kubernetes group a grant under this rule carries.
    pub fn group(&self) -> &'static str {
        if self.escalation {
            JIT_ESCALATION_GROUP
        } else {
            JIT_GROUP
        }
    }
}

fn yes() -> bool {
    true
}

/// What Berth starts with until an admin saves a policy of their own.
pub fn default_policy() -> Vec<Rule> {
    let rule = |role: &str, cluster: bool, max_minutes: u32| Rule {
        role: role.to_owned(),
        cluster,
        namespaces: if cluster {
            Vec::new()
        } else {
            vec!["*".to_owned()]
        },
        max_minutes,
        approvals: 1,
        approver_outside_team: false,
        reason_required: true,
        ticket_required: false,
        break_glass: false,
        break_glass_roles: glass_roles(),
        escalation: false,
    };
    vec![
        rule("view", false, 8 * 60),
        Rule {
            ticket_required: true,
            ..rule("edit", false, 4 * 60)
        },
        Rule {
            ticket_required: true,
            approver_outside_team: true,
            break_glass: true,
            ..rule("admin", false, 2 * 60)
        },
        rule("view", true, 4 * 60),
        Rule {
            ticket_required: true,
            approvals: 2,
            ..rule("cluster-admin", true, 60)
        },
    ]
}

/// Problems with a policy an admin is about to save, one message each.
pub fn check_policy(rules: &[Rule]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if rules.is_empty() {
        problems.push("the policy needs at least one rule".to_owned());
    }
    for (i, r) in rules.iter().enumerate() {
        let at = format!("rule {} ({})", i + 1, r.role);
        if !is_role_name(&r.role) {
            problems.push(format!(
                "{at}: {:?} is not a ClusterRole name (lowercase letters, digits, '-', ':', '.')",
                r.role
            ));
        }
        if r.cluster && !r.namespaces.is_empty() {
            problems.push(format!(
                "{at}: a cluster-wide rule takes no namespace patterns"
            ));
        }
        if !r.cluster && r.namespaces.is_empty() {
            problems.push(format!(
                "{at}: name the namespaces it covers (\"*\" for all) or make it cluster-wide"
            ));
        }
        for p in &r.namespaces {
            if p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '*')
            {
                problems.push(format!("{at}: namespace pattern {p:?} may hold only lowercase letters, digits, '-' and '*'"));
            }
        }
        if r.max_minutes == 0 || r.max_minutes > 7 * 24 * 60 {
            problems.push(format!(
                "{at}: the maximum duration must be between 1 minute and 7 days"
            ));
        }
        if r.approvals == 0 || r.approvals > 3 {
            problems.push(format!("{at}: approvals must be 1, 2 or 3"));
        }
        for role in &r.break_glass_roles {
            if Role::parse(role).is_none() {
                problems.push(format!(
                    "{at}: break_glass_roles has {role:?}; Berth's roles are developer, manager, sre, admin"
                ));
            }
        }
        if r.escalation && r.approvals < 2 {
            problems.push(format!(
                "{at}: a rule with escalation (RBAC writes, ServiceAccount tokens) needs two approvers or more"
            ));
        }
        if r.escalation && r.break_glass {
            problems.push(format!(
                "{at}: a rule with escalation cannot allow break-glass (nobody approves it alone)"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn is_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | ':' | '.'))
}

/// `*` matches any run of characters (including none); everything else literally.
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Where a grant applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    Cluster,
    Namespaces(Vec<String>),
}

impl Scope {
    pub fn describe(&self) -> String {
        match self {
            Scope::Cluster => "the whole cluster".to_owned(),
            Scope::Namespaces(list) => list.join(", "),
        }
    }
}

/// A request as the form sends it, before it is checked. Fields left out are empty (`false`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Draft {
    /// Comma- or space-separated namespaces, or empty when `cluster`.
    pub namespaces: String,
    /// The whole cluster rather than namespaces.
    pub cluster: bool,
    /// Which cluster of the fleet, by name; empty: the home cluster.
    pub target_cluster: String,
    pub role: String,
    /// Minutes, or a duration like `30m`, `2h`, `1h30m`.
    pub duration: String,
    pub reason: String,
    pub ticket: String,
    pub break_glass: bool,
}

/// A request that passed the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub scope: Scope,
    pub role: String,
    pub minutes: u32,
    pub reason: String,
    pub ticket: String,
    pub break_glass: bool,
    /// The rule that holds it (a copy: later policy edits do not move a request's goalposts).
    pub rule: Rule,
}

/// `30`, `30m`, `2h`, `1h30m` → minutes.
pub fn parse_minutes(text: &str) -> Result<u32, String> {
    let t = text.trim().to_ascii_lowercase();
    let bad =
        || format!("{text:?} is not a duration; write minutes (90) or hours and minutes (1h30m)");
    if t.is_empty() {
        return Err("say how long you need it (e.g. 30m or 2h)".to_owned());
    }
    if let Ok(m) = t.parse::<u32>() {
        return Ok(m);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut seen_unit = false;
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total += match c {
            'h' => n * 60,
            'm' => n,
            _ => return Err(bad()),
        };
        seen_unit = true;
    }
    if !digits.is_empty() || !seen_unit {
        return Err(bad());
    }
    u32::try_from(total).map_err(|_| bad())
}

fn has_markup(text: &str) -> bool {
    text.contains('<') || text.contains('>')
}

/// NUL and friends: Postgres refuses NUL in text, and the rest only hide what a reviewer reads.
fn has_control(text: &str) -> bool {
    crate::text::has_forbidden(text, true)
}

fn namespace_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Who asks, and which namespaces are out of every grant's reach.
pub struct Asker<'a> {
    pub actor: &'a Actor,
    /// Namespace patterns no grant may name (`*` as in rules).
    pub protected: &'a [String],
}

/// Holds a draft against the policy: every problem, one message each, or the checked request.
pub fn check(draft: &Draft, policy: &[Rule], asker: &Asker<'_>) -> Result<Checked, Vec<String>> {
    let mut problems = Vec::new();
    let role = draft.role.trim().to_owned();
    let scope = if draft.cluster {
        Scope::Cluster
    } else {
        let mut list: Vec<String> = draft
            .namespaces
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        list.sort();
        list.dedup();
        if list.is_empty() {
            problems.push("name at least one namespace, or ask for the whole cluster".to_owned());
        }
        if list.len() > MAX_NAMESPACES {
            problems.push(format!("at most {MAX_NAMESPACES} namespaces per request"));
        }
        for n in &list {
            if !namespace_ok(n) {
                problems.push(format!("{n:?} is not a namespace name"));
            } else if asker.protected.iter().any(|p| matches(p, n)) {
                problems.push(format!(
                    "{n} is protected: no access request reaches it (ask the platform team)"
                ));
            }
        }
        Scope::Namespaces(list)
    };
    let minutes = match parse_minutes(&draft.duration) {
        Ok(0) => {
            problems.push("a grant lasts at least one minute".to_owned());
            None
        }
        Ok(m) => Some(m),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let reason = draft.reason.trim().to_owned();
    let ticket = draft.ticket.trim().to_owned();
    if has_markup(&reason) {
        problems.push("the reason may not contain markup (< or >)".to_owned());
    }
    if has_control(&reason) {
        problems.push("the reason may not contain control characters".to_owned());
    }
    if reason.chars().count() > MAX_REASON {
        problems.push(format!("the reason is limited to {MAX_REASON} characters"));
    }
    if !ticket.is_empty()
        && (ticket.len() > MAX_TICKET
            || !ticket.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '#' | '/' | '.' | ':')
            }))
    {
        problems.push(format!(
            "a ticket reference is up to {MAX_TICKET} letters, digits and - _ # / . : (e.g. OPS-1234)"
        ));
    }

    let requestable: Vec<&str> = {
        let mut r: Vec<&str> = policy.iter().map(|r| r.role.as_str()).collect();
        r.sort();
        r.dedup();
        r
    };
    let for_role: Vec<&Rule> = policy.iter().filter(|r| r.role == role).collect();
    let rule = if role.is_empty() {
        problems.push("choose a role".to_owned());
        None
    } else if for_role.is_empty() {
        problems.push(format!(
            "role {role:?} cannot be requested; the policy offers {}",
            requestable.join(", ")
        ));
        None
    } else {
        let covering: Vec<&Rule> = for_role
            .iter()
            .copied()
            .filter(|r| match &scope {
                Scope::Cluster => r.cluster,
                Scope::Namespaces(list) => {
                    !r.cluster
                        && !list.is_empty()
                        && list
                            .iter()
                            .all(|n| r.namespaces.iter().any(|p| matches(p, n)))
                }
            })
            .collect();
        if covering.is_empty() {
            problems.push(match &scope {
                Scope::Cluster => format!("{role} cannot be requested cluster-wide"),
                Scope::Namespaces(list) => {
                    let outside: Vec<&str> = list
                        .iter()
                        .filter(|n| {
                            !for_role
                                .iter()
                                .any(|r| !r.cluster && r.namespaces.iter().any(|p| matches(p, n)))
                        })
                        .map(String::as_str)
                        .collect();
                    if outside.is_empty() {
                        format!("no single rule covers {role} in all of {}", list.join(", "))
                    } else {
                        format!(
                            "{role} cannot be requested in {}: outside the policy",
                            outside.join(", ")
                        )
                    }
                }
            });
            None
        } else {
            // The longest-allowed rule that fits the duration, else the longest (for the message).
            let fits = covering
                .iter()
                .copied()
                .find(|r| minutes.is_none_or(|m| m <= r.max_minutes));
            match fits {
                Some(r) => Some(r),
                None => {
                    let max = covering.iter().map(|r| r.max_minutes).max().unwrap_or(0);
                    problems.push(format!(
                        "{role} may be held at most {} here; you asked for {}",
                        describe_minutes(max),
                        describe_minutes(minutes.unwrap_or(0))
                    ));
                    None
                }
            }
        }
    };
    if let Some(r) = rule {
        if r.reason_required && reason.is_empty() {
            problems.push(format!("{role} needs a reason"));
        }
        if r.ticket_required && ticket.is_empty() {
            problems.push(format!("{role} needs a ticket reference"));
        }
        if draft.break_glass && !r.break_glass {
            problems.push(format!("break-glass is not allowed for {role}"));
        } else if draft.break_glass && !may_break_glass(r, asker.actor) {
            problems.push(format!(
                "break-glass for {role} is for {} only; ask for a review instead",
                r.break_glass_roles.join(", ")
            ));
        }
    }
    match (rule, minutes) {
        (Some(r), Some(m)) if problems.is_empty() => Ok(Checked {
            scope,
            role,
            minutes: m,
            reason,
            ticket,
            break_glass: draft.break_glass,
            rule: r.clone(),
        }),
        _ => Err(problems),
    }
}

/// Whether `actor` may approve a request under `rule` themself (break-glass).
pub fn may_break_glass(rule: &Rule, actor: &Actor) -> bool {
    rule.break_glass
        && rule
            .break_glass_roles
            .iter()
            .filter_map(|name| Role::parse(name))
            .any(|allowed| actor.has(allowed))
}

/// The roles of `policy` the actor may break glass for, for the request form.
pub fn break_glass_roles(policy: &[Rule], actor: &Actor) -> Vec<String> {
    let mut roles: Vec<String> = policy
        .iter()
        .filter(|r| may_break_glass(r, actor))
        .map(|r| r.role.clone())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// A reviewer's, revoker's or signer's comment, trimmed: plain text of at most
/// [`MAX_COMMENT`] characters; `required` is the message when it may not be empty.
pub fn check_comment(text: &str, required: Option<&str>) -> Result<String, String> {
    let comment = text.trim();
    if has_markup(comment) {
        return Err("the comment may not contain markup (< or >)".to_owned());
    }
    if has_control(comment) {
        return Err("the comment may not contain control characters".to_owned());
    }
    if comment.chars().count() > MAX_COMMENT {
        return Err(format!(
            "the comment is limited to {MAX_COMMENT} characters"
        ));
    }
    match required {
        Some(why) if comment.is_empty() => Err(why.to_owned()),
        _ => Ok(comment.to_owned()),
    }
}

pub fn describe_minutes(m: u32) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum State {
    /// Waiting for approvals.
    Pending,
    /// Approved; the bindings are being made.
    Granting,
    Active,
    /// Ran its time (or waited too long for review) and is over.
    Expired,
    /// Ended early.
    Revoked,
    Denied,
    /// Taken back by its requester before anyone decided.
    Withdrawn,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Pending,
        State::Granting,
        State::Active,
        State::Expired,
        State::Revoked,
        State::Denied,
        State::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Granting => "granting",
            State::Active => "active",
            State::Expired => "expired",
            State::Revoked => "revoked",
            State::Denied => "denied",
            State::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_open(self) -> bool {
        matches!(self, State::Pending | State::Granting | State::Active)
    }
}

/// What a reviewer's approval does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    /// The last one needed: grant now.
    Final,
    /// Recorded; this many more are needed.
    NeedsMore(u32),
}

/// The facts about a request an approval is checked against.
pub struct Review<'a> {
    pub requester: &'a str,
    pub requester_teams: &'a [String],
    pub state: State,
    pub rule: &'a Rule,
    /// Who approved already.
    pub approved_by: &'a [String],
}

/// May `approver` approve (or deny) this request, and what follows from an approval.
pub fn check_review(review: &Review<'_>, approver: &Actor) -> Result<Approval, String> {
    if review.state != State::Pending {
        return Err(format!(
            "this request is {}; only pending requests are reviewed",
            review.state.as_str()
        ));
    }
    if approver.id == review.requester {
        return Err("nobody approves their own access request".to_owned());
    }
    if !(approver.has(Role::Sre) || approver.has(Role::Admin)) {
        return Err("only SREs review access requests".to_owned());
    }
    if review.rule.approver_outside_team
        && let Some(shared) = approver
            .teams
            .iter()
            .find(|t| review.requester_teams.contains(t))
    {
        return Err(format!(
            "this role needs an approver outside the requester's teams; you share team {shared}"
        ));
    }
    if review.approved_by.iter().any(|a| a == &approver.id) {
        return Err("you approved this request already; it needs another SRE".to_owned());
    }
    let have = u32::try_from(review.approved_by.len()).unwrap_or(u32::MAX) + 1;
    Ok(if have >= review.rule.approvals {
        Approval::Final
    } else {
        Approval::NeedsMore(review.rule.approvals - have)
    })
}

/// The Kubernetes user name of a grant.
pub fn subject(request_id: &str, user_id: &str) -> String {
    format!("jit:{request_id}:{user_id}")
}

/// The name of each binding of a grant.
pub fn binding_name(request_id: &str) -> String {
    format!("berth-jit-{request_id}")
}

/// The bindings of a grant: a RoleBinding per namespace, or one ClusterRoleBinding, for the
/// grant's own user, labelled with the request and annotated with the expiry.
pub fn manifests(
    request_id: &str,
    user_id: &str,
    scope: &Scope,
    role: &str,
    expires_at: &str,
) -> Vec<crate::tenancy::Manifest> {
    use crate::tenancy::{ANNOTATION_EXPIRES, MANAGED_BY, Manifest};
    let name = binding_name(request_id);
    let body = |kind: &str, namespace: Option<&str>| {
        let mut metadata = serde_json::json!({
            "name": name,
            "labels": { MANAGED_BY.0: MANAGED_BY.1, LABEL_ACCESS_REQUEST: request_id },
            "annotations": { ANNOTATION_EXPIRES: expires_at },
        });
        if let Some(ns) = namespace {
            metadata["namespace"] = serde_json::json!(ns);
        }
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": metadata,
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": subject(request_id, user_id) }],
        })
    };
    let manifest = |kind: &str, namespace: Option<&str>| Manifest {
        api_version: "rbac.authorization.k8s.io/v1".to_owned(),
        kind: kind.to_owned(),
        name: name.clone(),
        namespace: namespace.map(str::to_owned),
        body: body(kind, namespace),
    };
    match scope {
        Scope::Cluster => vec![manifest("ClusterRoleBinding", None)],
        Scope::Namespaces(list) => list
            .iter()
            .map(|ns| manifest("RoleBinding", Some(ns)))
            .collect(),
    }
}

/// Seconds a kubeconfig's certificate should live: to the grant's end, never below the API's
/// minimum; `None` when the grant is over.
pub fn certificate_seconds(now: i64, expires_at: i64) -> Option<i64> {
    let left = expires_at - now;
    (left > 0).then_some(left.max(MIN_CERTIFICATE_SECONDS))
}

/// One review as pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewView {
    pub reviewer: String,
    pub approved: bool,
    pub comment: String,
    pub at: String,
}

/// A request as pages show it, with what the viewer may do to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessView {
    pub id: String,
    pub requester_id: String,
    pub requester: String,
    /// The cluster of the fleet the grant is on.
    #[serde(default)]
    pub target_cluster: String,
    pub scope: String,
    pub cluster: bool,
    pub namespaces: Vec<String>,
    pub role: String,
    pub duration: String,
    pub reason: String,
    pub ticket: String,
    pub break_glass: bool,
    pub extends: Option<String>,
    pub state: State,
    pub created_at: String,
    pub review_by: String,
    pub granted_at: Option<String>,
    pub expires_at: Option<String>,
    /// While active.
    pub seconds_left: Option<i64>,
    pub approvals_needed: u32,
    pub reviews: Vec<ReviewView>,
    pub ended_at: Option<String>,
    pub ended_by: Option<String>,
    pub end_comment: Option<String>,
    pub revoke_delay_ms: Option<f64>,
    /// Break-glass grants: who signed the after-the-fact review off, if anyone yet.
    pub signed_off_by: Option<String>,
    pub signoff_comment: Option<String>,
    pub can_review: bool,
    pub can_revoke: bool,
    pub can_download: bool,
    pub can_extend: bool,
    pub can_sign_off: bool,
    /// Its requester may take it back while nobody has decided.
    #[serde(default)]
    pub can_withdraw: bool,
}

impl AccessView {
    /// Break-glass grants wait for an SRE's sign-off once they started.
    pub fn needs_sign_off(&self) -> bool {
        self.break_glass
            && self.signed_off_by.is_none()
            && !matches!(
                self.state,
                State::Pending | State::Denied | State::Withdrawn
            )
    }
}

/// The Access page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessOverview {
    /// The clusters a request may be for, the home one first.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// What may be requested.
    pub rules: Vec<Rule>,
    pub mine: Vec<AccessView>,
    /// Others' pending requests (for reviewers).
    pub queue: Vec<AccessView>,
    /// Others' active grants and break-glass grants awaiting sign-off (for SREs and admins).
    pub active: Vec<AccessView>,
    /// Roles the viewer may approve themself in an emergency (break-glass).
    pub break_glass_roles: Vec<String>,
    pub reviewer: bool,
    pub admin: bool,
}

/// One request's page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessDetail {
    pub request: AccessView,
    pub events: Vec<crate::audit::Event>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(namespaces: &str, role: &str, duration: &str) -> Draft {
        Draft {
            namespaces: namespaces.to_owned(),
            cluster: false,
            role: role.to_owned(),
            duration: duration.to_owned(),
            reason: "incident 42: payments latency".to_owned(),
            ticket: "OPS-42".to_owned(),
            break_glass: false,
            target_cluster: String::new(),
        }
    }

    fn developer() -> Actor {
        Actor {
            id: "dana".to_owned(),
            roles: vec![Role::Developer],
            teams: vec!["payments".to_owned()],
        }
    }

    /// A developer asking, with the default protected namespaces.
    fn dev() -> Asker<'static> {
        use std::sync::LazyLock;
        static ACTOR: LazyLock<Actor> = LazyLock::new(developer);
        static PROTECTED: LazyLock<Vec<String>> =
            LazyLock::new(|| DEFAULT_PROTECTED.map(str::to_owned).to_vec());
        Asker {
            actor: &ACTOR,
            protected: &PROTECTED,
        }
    }

    fn sre(id: &str, teams: &[&str]) -> Actor {
        Actor {
            id: id.to_owned(),
            roles: vec![Role::Sre],
            teams: teams.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn patterns_match_like_shell_globs() {
        assert!(matches("*", "anything"));
        assert!(matches("payments-*", "payments-prod"));
        assert!(!matches("payments-*", "checkout-prod"));
        assert!(matches("*-prod", "search-prod"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
        assert!(!matches("a*b*c", "a-x-c"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn durations_read_minutes_and_hours() {
        assert_eq!(parse_minutes("30"), Ok(30));
        assert_eq!(parse_minutes("30m"), Ok(30));
        assert_eq!(parse_minutes("2h"), Ok(120));
        assert_eq!(parse_minutes("1h30m"), Ok(90));
        assert_eq!(parse_minutes(" 1H "), Ok(60));
        assert!(parse_minutes("").is_err());
        assert!(parse_minutes("soon").is_err());
        assert!(parse_minutes("1d").is_err());
        assert!(parse_minutes("h").is_err());
        assert!(parse_minutes("90s").is_err());
    }

    #[test]
    fn a_request_within_policy_is_held_to_its_rule() {
        let checked = check(
            &draft("search-staging", "edit", "30m"),
            &default_policy(),
            &dev(),
        )
        .expect("within policy");
        assert_eq!(
            checked.scope,
            Scope::Namespaces(vec!["search-staging".into()])
        );
        assert_eq!(checked.minutes, 30);
        assert_eq!(checked.rule.role, "edit");
        assert_eq!(checked.rule.max_minutes, 240);
    }

    #[test]
    fn bad_requests_get_one_message_per_problem() {
        let policy = default_policy();
        let too_long = check(&draft("a", "edit", "5h"), &policy, &dev()).expect_err("refused");
        assert_eq!(
            too_long,
            ["edit may be held at most 4 h here; you asked for 5 h"]
        );
        let unknown = check(&draft("a", "root", "5m"), &policy, &dev()).expect_err("refused");
        assert!(
            unknown[0].contains("\"root\" cannot be requested"),
            "{unknown:?}"
        );
        assert!(
            unknown[0].contains("cluster-admin, edit, view"),
            "{unknown:?}"
        );
        let mut markup = draft("a", "edit", "5m");
        markup.reason = "<script>alert(1)</script>".to_owned();
        assert_eq!(
            check(&markup, &policy, &dev()).expect_err("refused"),
            ["the reason may not contain markup (< or >)"]
        );
        let mut bare = draft("a", "edit", "5m");
        bare.reason.clear();
        bare.ticket.clear();
        assert_eq!(
            check(&bare, &policy, &dev()).expect_err("refused"),
            ["edit needs a reason", "edit needs a ticket reference"]
        );
        let names =
            check(&draft("Bad_Name, ok", "view", "5m"), &policy, &dev()).expect_err("refused");
        assert_eq!(names, ["\"Bad_Name\" is not a namespace name"]);
        let mut nul = draft("a", "edit", "5m");
        nul.reason = "incident\u{0}42".to_owned();
        assert_eq!(
            check(&nul, &policy, &dev()).expect_err("refused"),
            ["the reason may not contain control characters"]
        );
        assert!(check_comment("ok\u{7}", None).is_err_and(|e| e.contains("control")));
        let mut glass = draft("a", "edit", "5m");
        glass.break_glass = true;
        assert_eq!(
            check(&glass, &policy, &dev()).expect_err("refused"),
            ["break-glass is not allowed for edit"]
        );
        let mut wide = draft("", "edit", "5m");
        wide.cluster = true;
        assert_eq!(
            check(&wide, &policy, &dev()).expect_err("refused"),
            ["edit cannot be requested cluster-wide"]
        );
    }

    #[test]
    fn protected_namespaces_are_out_of_reach() {
        let policy = default_policy();
        let err = check(
            &draft("kube-system, payments", "view", "5m"),
            &policy,
            &dev(),
        )
        .expect_err("refused");
        assert_eq!(
            err,
            ["kube-system is protected: no access request reaches it (ask the platform team)"]
        );
        let err = check(&draft("berth", "view", "5m"), &policy, &dev()).expect_err("refused");
        assert!(err[0].starts_with("berth is protected"), "{err:?}");
        // Patterns match whole names: `my-kube-tools` is an ordinary namespace.
        assert!(check(&draft("my-kube-tools", "view", "5m"), &policy, &dev()).is_ok());
    }

    #[test]
    fn break_glass_is_for_the_roles_the_rule_names() {
        let policy = default_policy();
        let mut glass = draft("payments", "admin", "30m");
        glass.break_glass = true;
        assert_eq!(
            check(&glass, &policy, &dev()).expect_err("refused"),
            ["break-glass for admin is for sre, admin only; ask for a review instead"]
        );
        let sre = sre("sam", &["platform"]);
        let asker = Asker {
            actor: &sre,
            protected: &[],
        };
        assert!(check(&glass, &policy, &asker).expect("allowed").break_glass);
        assert_eq!(break_glass_roles(&policy, &sre), ["admin"]);
        assert!(break_glass_roles(&policy, &developer()).is_empty());
        // The same developer may still ask for it with a review.
        glass.break_glass = false;
        assert!(check(&glass, &policy, &dev()).is_ok());
    }

    #[test]
    fn escalation_needs_two_approvers_and_no_break_glass() {
        let escalating = Rule {
            escalation: true,
            break_glass: true,
            approvals: 1,
            ..default_policy()[2].clone()
        };
        let problems = check_policy(&[escalating]).expect_err("refused");
        assert_eq!(problems.len(), 2, "{problems:?}");
        let ok = Rule {
            escalation: true,
            break_glass: false,
            approvals: 2,
            ..default_policy()[2].clone()
        };
        assert!(check_policy(std::slice::from_ref(&ok)).is_ok());
        assert_eq!(ok.group(), JIT_ESCALATION_GROUP);
        assert_eq!(default_policy()[2].group(), JIT_GROUP);
        let unknown_role = Rule {
            break_glass_roles: vec!["root".into()],
            ..default_policy()[0].clone()
        };
        assert_eq!(check_policy(&[unknown_role]).expect_err("refused").len(), 1);
    }

    #[test]
    fn scope_must_lie_inside_a_rule() {
        let policy = vec![Rule {
            namespaces: vec!["payments-*".into()],
            ..default_policy()[1].clone()
        }];
        let err = check(
            &draft("payments-prod, search-prod", "edit", "10m"),
            &policy,
            &dev(),
        )
        .expect_err("refused");
        assert_eq!(
            err,
            ["edit cannot be requested in search-prod: outside the policy"]
        );
        assert!(
            check(
                &draft("payments-prod payments-dev", "edit", "10m"),
                &policy,
                &dev()
            )
            .is_ok()
        );
    }

    #[test]
    fn reviews_follow_the_rule() {
        let policy = default_policy();
        let admin_rule = &policy[2];
        let two = &policy[4];
        let teams = vec!["payments".to_owned()];
        let review = |rule, approved_by: &'static [String]| Review {
            requester: "dana",
            requester_teams: &[],
            state: State::Pending,
            rule,
            approved_by,
        };
        // Never the requester, even an SRE.
        let mut own = review(&policy[1], &[]);
        own.requester = "sam";
        assert_eq!(
            check_review(&own, &sre("sam", &[])),
            Err("nobody approves their own access request".to_owned())
        );
        // Developers do not review.
        let dev = Actor {
            id: "bo".into(),
            roles: vec![Role::Developer],
            teams: vec![],
        };
        assert!(check_review(&review(&policy[1], &[]), &dev).is_err());
        // Outside the team when the rule says so.
        let mut same_team = review(admin_rule, &[]);
        same_team.requester_teams = &teams;
        assert_eq!(
            check_review(&same_team, &sre("pat", &["payments"])),
            Err("this role needs an approver outside the requester's teams; you share team payments".to_owned())
        );
        assert_eq!(
            check_review(&same_team, &sre("sam", &["platform"])),
            Ok(Approval::Final)
        );
        // Two approvals need two different SREs.
        assert_eq!(
            check_review(&review(two, &[]), &sre("sam", &[])),
            Ok(Approval::NeedsMore(1))
        );
        let sam_done: &'static [String] = Box::leak(Box::new(["sam".to_owned()]));
        assert_eq!(
            check_review(&review(two, sam_done), &sre("sam", &[])),
            Err("you approved this request already; it needs another SRE".to_owned())
        );
        assert_eq!(
            check_review(&review(two, sam_done), &sre("sid", &[])),
            Ok(Approval::Final)
        );
        // Only pending requests.
        let mut done = review(&policy[1], &[]);
        done.state = State::Revoked;
        assert!(
            check_review(&done, &sre("sam", &[]))
                .expect_err("refused")
                .contains("revoked")
        );
    }

    #[test]
    fn policies_are_checked_before_they_are_saved() {
        assert!(check_policy(&default_policy()).is_ok());
        let bad = Rule {
            role: "Edit!".into(),
            cluster: true,
            namespaces: vec!["x".into()],
            max_minutes: 0,
            approvals: 5,
            ..default_policy()[0].clone()
        };
        let problems = check_policy(&[bad]).expect_err("refused");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(check_policy(&[]).is_err());
    }

    #[test]
    fn comments_are_plain_short_and_present_when_required() {
        assert_eq!(check_comment("  ok  ", None), Ok("ok".to_owned()));
        assert_eq!(check_comment("", None), Ok(String::new()));
        assert_eq!(
            check_comment(" ", Some("say why")),
            Err("say why".to_owned())
        );
        assert!(
            check_comment("<b>", None)
                .expect_err("markup")
                .contains("markup")
        );
        assert!(check_comment(&"x".repeat(MAX_COMMENT + 1), None).is_err());
        assert!(check_comment(&"x".repeat(MAX_COMMENT), None).is_ok());
    }

    #[test]
    fn a_grant_binds_its_own_user_in_each_namespace() {
        let scope = Scope::Namespaces(vec!["a".into(), "b".into()]);
        let m = manifests("ar-1", "demo:dana", &scope, "edit", "2026-11-22T18:00:00Z");
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].namespace.as_deref(), Some("b"));
        assert_eq!(m[0].name, "berth-jit-ar-1");
        assert_eq!(m[0].body["subjects"][0]["name"], "jit:ar-1:demo:dana");
        assert_eq!(m[0].body["roleRef"]["name"], "edit");
        assert_eq!(
            m[0].body["metadata"]["labels"][LABEL_ACCESS_REQUEST],
            "ar-1"
        );
        assert_eq!(
            m[0].body["metadata"]["annotations"]["berth.dev/expires-at"],
            "2026-11-22T18:00:00Z"
        );
        let cluster = manifests("ar-2", "sam", &Scope::Cluster, "view", "x");
        assert_eq!(cluster[0].kind, "ClusterRoleBinding");
        assert_eq!(cluster[0].namespace, None);
    }

    #[test]
    fn certificates_end_with_the_grant_but_not_below_the_api_minimum() {
        assert_eq!(certificate_seconds(1_000, 1_000 + 3_600), Some(3_600));
        assert_eq!(certificate_seconds(1_000, 1_000 + 60), Some(600));
        assert_eq!(certificate_seconds(1_000, 1_000), None);
        assert_eq!(subject("ar-1", "demo:dana"), "jit:ar-1:demo:dana");
    }
}
