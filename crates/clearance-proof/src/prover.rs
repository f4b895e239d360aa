//! The solver, behind two questions: "is there a request where this expression is true?" and
//! "is there one where it errors?". Each is one query to cvc5 through Cedar's symbolic
//! compiler, which keeps one solver process for the whole analysis.

use cedar_policy::{PolicySet, RequestEnv, Schema};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet, Env};

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::assume::Invariants;
use crate::error::ProofError;
use crate::expr::Expr;

/// The environment variable naming the solver (as `cedar-policy-symcc` documents it).
pub const SOLVER_ENV: &str = "CVC5";

/// The solver looked for on PATH when [`SOLVER_ENV`] is not set.
pub const DEFAULT_SOLVER: &str = "cvc5";

/// The solver to run: `$CVC5` if set (read through `read`, the caller's door to the
/// environment), else `cvc5` on PATH.
pub fn solver_program(read: impl Fn(&str) -> Option<String>) -> String {
    read(SOLVER_ENV).unwrap_or_else(|| DEFAULT_SOLVER.to_string())
}

/// How long one query may take before the solver gives up (cvc5's `--tlimit-per`, ms).
const QUERY_TIME_LIMIT_MS: u32 = 60_000;

/// A running solver and the schema queries are compiled against.
pub struct Prover {
    compiler: CedarSymCompiler<LocalSolver>,
    schema: &'static Schema,
    env: RequestEnv,
    /// Added to every query (as far as it reads them); `None` asks queries as they are.
    invariants: Option<Invariants>,
    /// Queries asked so far (for reports and benchmarks).
    pub queries: usize,
}

/// A request the solver found, with what it chose under the invariants.
pub struct Answer {
    pub env: Env,
    /// The attributes the query and its invariants constrained (`None`: all of them, for a
    /// prover without invariants). The others get ordinary values before the caller is built.
    pub reads: Option<BTreeSet<String>>,
    /// The time of a caller whose query does not read it.
    pub default_now: Option<DateTime<Utc>>,
}

impl Prover {
    /// Starts cvc5: `program` is a path or a name on PATH (callers read it from `$CVC5`,
    /// see [`SOLVER_ENV`], else [`DEFAULT_SOLVER`]). Call it inside a Tokio runtime: the
    /// solver is a child process the runtime drives.
    pub fn start(program: &str) -> Result<Prover, ProofError> {
        let program = program.to_string();
        let no_solver = |reason: String| ProofError::NoSolver {
            program: program.clone(),
            reason,
        };
        // Spawning succeeds for any executable file; asking for the version proves it is one
        // that answers, before the first real query.
        let version = std::process::Command::new(&program)
            .arg("--version")
            .output()
            .map_err(|e| no_solver(e.to_string()))?;
        if !version.status.success() {
            return Err(no_solver(format!(
                "`{program} --version` exited with {}",
                version.status
            )));
        }
        let solver = LocalSolver::cvc5_with_args([format!("--tlimit-per={QUERY_TIME_LIMIT_MS}")])
            .map_err(|e| no_solver(e.to_string()))?;
        let compiler = CedarSymCompiler::new(solver).map_err(|e| no_solver(e.to_string()))?;
        let schema = clearance_policy::schema::schema();
        let env = schema
            .request_envs()
            .next()
            .ok_or_else(|| ProofError::Internal("the schema has no request type".into()))?;
        Ok(Prover {
            compiler,
            schema,
            env,
            invariants: None,
            queries: 0,
        })
    }

    /// From now on every query carries the invariants it needs.
    pub fn assume(&mut self, invariants: Invariants) {
        self.invariants = Some(invariants);
    }

    /// `expr` with the invariants it needs, and what they constrain.
    fn with_invariants(&self, expr: &Expr) -> (Expr, Option<BTreeSet<String>>) {
        match &self.invariants {
            Some(invariants) => {
                let (needed, reads) = invariants.for_query(expr);
                (needed.and(expr.clone()), Some(reads))
            }
            None => (expr.clone(), None),
        }
    }

    fn answer(&self, env: Env, reads: Option<BTreeSet<String>>) -> Answer {
        Answer {
            env,
            reads,
            default_now: self.invariants.as_ref().map(Invariants::default_now),
        }
    }

    /// A request (with its entities) on which `expr` is true, or `None` if there is none.
    pub async fn example(
        &mut self,
        expr: &Expr,
        query: &str,
    ) -> Result<Option<Answer>, ProofError> {
        let (asked, reads) = self.with_invariants(expr);
        Ok(self
            .raw_example(&asked, query)
            .await?
            .map(|env| self.answer(env, reads)))
    }

    async fn raw_example(&mut self, expr: &Expr, query: &str) -> Result<Option<Env>, ProofError> {
        self.queries += 1;
        let policy = expr.permit_policy("query")?;
        let set = PolicySet::from_policies([policy])
            .map_err(|e| ProofError::Internal(format!("{query}: {e}")))?;
        let compiled = CompiledPolicySet::compile(&set, &self.env, self.schema)
            .map_err(|e| ProofError::Internal(format!("{query}: {e}")))?;
        self.compiler
            .check_always_denies_with_counterexample_opt(&compiled)
            .await
            .map_err(|e| solver_error(query, e))
    }

    /// Like [`Prover::example`], but once an example exists, the first of the invariants'
    /// preference tiers that still allows one shapes it: a counterexample a person reads
    /// should be an ordinary request, not the solver's first pick of year 9999.
    pub async fn readable_example(
        &mut self,
        expr: &Expr,
        query: &str,
    ) -> Result<Option<Answer>, ProofError> {
        let Some(any) = self.example(expr, query).await? else {
            return Ok(None);
        };
        let preferences = match (&self.invariants, &any.reads) {
            (Some(invariants), Some(reads)) => invariants.preferences(reads),
            _ => Vec::new(),
        };
        for preferred in preferences {
            if let Some(answer) = self.example(&expr.clone().and(preferred), query).await? {
                return Ok(Some(answer));
            }
        }
        Ok(Some(any))
    }

    /// A request on which evaluating `expr` errors, or `None` if it never does.
    pub async fn error_example(
        &mut self,
        expr: &Expr,
        query: &str,
    ) -> Result<Option<Answer>, ProofError> {
        self.queries += 1;
        // The invariants come first: `A && C` errors only where A holds and C errors.
        let (asked, reads) = self.with_invariants(expr);
        let policy = asked.permit_policy("query")?;
        let compiled = CompiledPolicy::compile(&policy, &self.env, self.schema)
            .map_err(|e| ProofError::Internal(format!("{query}: {e}")))?;
        Ok(self
            .compiler
            .check_never_errors_with_counterexample_opt(&compiled)
            .await
            .map_err(|e| solver_error(query, e))?
            .map(|env| self.answer(env, reads)))
    }
}

fn solver_error(query: &str, error: cedar_policy_symcc::err::Error) -> ProofError {
    ProofError::Solver {
        query: query.to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_solver_is_named_with_how_to_install_one() {
        let Err(error) = Prover::start("/nonexistent/cvc5") else {
            panic!("a solver that does not exist cannot start")
        };
        let message = error.to_string();
        assert!(matches!(error, ProofError::NoSolver { .. }));
        assert!(message.contains("/nonexistent/cvc5"), "{message}");
        assert!(message.contains("apt-get install cvc5"), "{message}");
        assert!(message.contains("$CVC5"), "{message}");
    }

    #[test]
    fn a_program_that_is_not_a_solver_is_refused_before_any_query() {
        let Err(error) = Prover::start("false") else {
            panic!("`false` is not a solver")
        };
        assert!(error.to_string().contains("exited with"), "{error}");
    }
}
