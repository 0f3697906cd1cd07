//! Running one recipe against one rootfs: check, apply, check again.
//!
//! The recipe's own `check` is its test. It runs before `apply` (is there
//! anything to do?) and after it, against the staged tree (did the fix land?).
//! Only a run whose second check reports `fixed` keeps its changes.

use crate::error::{RunError, RunErrorKind};
use crate::recipe::Recipe;
use crate::rootfs::RootView;
use crate::sandbox::{Call, Captured, CheckReport, CheckStatus, Inputs, Report, Returned, Sandbox};
use crate::session::{Changes, Phase, Session, SessionLimits};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Settings of one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The guest's clock, seconds since the epoch (SOURCE_DATE_EPOCH).
    pub source_date_epoch: u64,
    /// Parameter overrides; each must be declared in recipe.toml.
    pub params: BTreeMap<String, String>,
    /// The installs of the recipe's target in its affected range
    /// ([`targets`]), passed to the recipe as `targets.all`.
    pub targets: Vec<crate::inventory::Package>,
}

/// The installs of `recipe`'s target package in its affected range.
pub fn targets(
    inv: &crate::inventory::Inventory,
    recipe: &Recipe,
) -> Vec<crate::inventory::Package> {
    match crate::matching::match_recipe(inv, recipe) {
        crate::matching::Match::Installed { affected, .. } => {
            affected.into_iter().cloned().collect()
        }
        _ => Vec::new(),
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// The fix was applied and verified by `check`.
    Applied {
        /// What `apply` reported.
        report: Report,
    },
    /// `check` found the fix already present; nothing was done.
    AlreadyFixed,
    /// `check` found nothing this recipe applies to.
    NotApplicable,
    /// The run failed; nothing was kept.
    Failed(RunError),
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunResult {
    /// Recipe id.
    pub recipe: String,
    /// How it ended.
    pub outcome: Outcome,
    /// `check` before `apply`, if it ran to completion.
    pub check_before: Option<CheckReport>,
    /// `check` after `apply`, if it ran to completion.
    pub check_after: Option<CheckReport>,
    /// The staged changes; empty unless the outcome is `Applied`.
    pub changes: Changes,
    /// Output of all phases.
    pub output: Captured,
}

/// Run only the recipe's `check` against `root`: is the fix present?
pub fn check(
    sandbox: &Sandbox,
    recipe: &Recipe,
    root: Arc<dyn RootView + Send + Sync>,
    options: &RunOptions,
) -> Result<CheckReport, RunError> {
    let id = &recipe.manifest.id;
    let loaded = sandbox.load(recipe)?;
    let inputs = Arc::new(Inputs {
        artifacts: recipe.artifacts.clone(),
        params: recipe.manifest.params.clone(),
        targets: options.targets.clone(),
    });
    let limits = &recipe.manifest.limits;
    let session_limits = SessionLimits {
        max_written: limits.written_bytes,
        max_read: limits.memory_bytes,
    };
    let session = Session::new(root, recipe.scope.clone(), id, session_limits);
    match sandbox
        .call(
            &loaded,
            Call::Check,
            session,
            inputs,
            limits,
            options.source_date_epoch,
        )
        .2?
    {
        Returned::Check(c) => Ok(c),
        Returned::Apply(_) => unreachable!("check returns a check report"),
    }
}

/// The recipe's declared parameters with `options`' overrides; an
/// undeclared one is an error.
fn params_for(
    recipe: &Recipe,
    options: &RunOptions,
) -> Result<std::collections::BTreeMap<String, String>, RunError> {
    let mut params = recipe.manifest.params.clone();
    for (k, v) in &options.params {
        if !params.contains_key(k) {
            let known: Vec<_> = params.keys().cloned().collect();
            return Err(RunError::new(
                RunErrorKind::Load,
                &recipe.manifest.id,
                format!("parameter {k:?} is not declared in recipe.toml (declared: {known:?})"),
            ));
        }
        params.insert(k.clone(), v.clone());
    }
    Ok(params)
}

/// Run `recipe` against `root`. Nothing in `root` is modified.
// Long: check, apply and check again are one sequence whose every early
// return goes through `fail`, which drops the staged changes; split up, that
// would no longer be visible in one place.
pub fn run(
    sandbox: &Sandbox,
    recipe: &Recipe,
    root: Arc<dyn RootView + Send + Sync>,
    options: &RunOptions,
) -> RunResult {
    let id = recipe.manifest.id.clone();
    let mut result = RunResult {
        recipe: id.clone(),
        outcome: Outcome::NotApplicable,
        check_before: None,
        check_after: None,
        changes: Changes::default(),
        output: Captured::default(),
    };
    let fail = |mut r: RunResult, e: RunError| {
        r.outcome = Outcome::Failed(e);
        r.changes = Changes::default();
        r
    };
    let params = match params_for(recipe, options) {
        Ok(p) => p,
        Err(e) => return fail(result, e),
    };
    let loaded = match sandbox.load(recipe) {
        Ok(l) => l,
        Err(e) => return fail(result, e),
    };
    let inputs = Arc::new(Inputs {
        artifacts: recipe.artifacts.clone(),
        params,
        targets: options.targets.clone(),
    });
    let limits = &recipe.manifest.limits;
    let session_limits = SessionLimits {
        max_written: limits.written_bytes,
        max_read: limits.memory_bytes,
    };
    let mut session = Session::new(root, recipe.scope.clone(), &id, session_limits);
    let epoch = options.source_date_epoch;

    // 1. Is there anything to do?
    session.set_phase(Phase::Check);
    let (s, out, r) = sandbox.call(&loaded, Call::Check, session, inputs.clone(), limits, epoch);
    result.output.append_from(out);
    let before = match r {
        Ok(Returned::Check(c)) => c,
        Ok(_) => unreachable!("check returns a check report"),
        Err(e) => return fail(result, e),
    };
    let status = before.status;
    result.check_before = Some(before);
    match status {
        CheckStatus::Fixed => {
            result.outcome = Outcome::AlreadyFixed;
            return result;
        }
        CheckStatus::NotApplicable => return result,
        CheckStatus::Vulnerable => {}
    }

    // 2. Apply, staged.
    let mut session = s;
    session.set_phase(Phase::Apply);
    let (mut session, out, r) =
        sandbox.call(&loaded, Call::Apply, session, inputs.clone(), limits, epoch);
    result.output.append_from(out);
    let report = match r {
        Ok(Returned::Apply(r)) => r,
        Ok(_) => unreachable!("apply returns a report"),
        Err(e) => return fail(result, e),
    };
    // Patch records, the SBOM and the VEX need an ecosystem rootwasm knows.
    if let Some(p) = report
        .packages
        .iter()
        .find(|p| p.ecosystem.parse::<crate::ecosystem::Ecosystem>().is_err())
    {
        return fail(
            result,
            RunError::new(
                RunErrorKind::RecipeFailed,
                &id,
                format!(
                    "apply reported package {:?} in ecosystem {:?}, which rootwasm does not know (deb, pypi, npm, apk, rpm)",
                    p.name, p.ecosystem
                ),
            ),
        );
    }

    // 3. Did the fix land? The check sees the staged tree.
    session.set_phase(Phase::Check);
    let (session, out, r) = sandbox.call(&loaded, Call::Check, session, inputs, limits, epoch);
    result.output.append_from(out);
    let after = match r {
        Ok(Returned::Check(c)) => c,
        Ok(_) => unreachable!("check returns a check report"),
        Err(e) => return fail(result, e),
    };
    let fixed = after.status == CheckStatus::Fixed;
    let detail = after.detail.clone();
    result.check_after = Some(after);
    if !fixed {
        return fail(
            result,
            RunError::new(
                RunErrorKind::CheckFailed,
                &id,
                format!("after apply, check still does not report the fix: {detail}"),
            ),
        );
    }
    result.changes = session.finish();
    result.outcome = Outcome::Applied { report };
    result
}
