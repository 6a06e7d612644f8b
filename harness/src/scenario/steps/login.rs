//! `login = "admin" | "given" | "<password>"`: the web UI's login, as the bench's model
//! takes it (the table of models), tried as `admin`; the prompt types it as `check login`.

use super::prompt::{bad, exactly, first};
use super::{CommandError, StepFields, StepFuture, StepKind, toml_string};
use crate::config_error::FileProblems;
use crate::drivers::web::{LoginOutcome, phone_web};
use crate::scenario::engine::Case;
use crate::scenario::load::password_fits;
use crate::scenario::model::{LoginPassword, Step};

/// The web UI of a phone that has just booted or got its cable back.
const LOGIN_TIMEOUT_S: f64 = 120.0;

/// How long a phone may take to apply a config the server has just served (real seconds,
/// scaled). A login that soon after a call-home is held back until this has passed, so a
/// loaded host never turns "not applied yet" into a finding. It is one attempt, later:
/// retrying refused logins instead would lock the account (W2: 5 refusals in a row).
const APPLY_CONFIG_S: f64 = 10.0;

/// The least that settle lasts on the wall clock, however small the time scale.
const APPLY_CONFIG_FLOOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The word for the password the given state provisioned.
const GIVEN: &str = "given";

/// A `login` step: the web UI's servlet login as `admin` with this password.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginStep {
    /// The password tried.
    pub password: LoginPassword,
}

/// A login as `admin` on the phone's web UI: accepted, refused or unreachable.
pub struct Login;

impl StepKind for Login {
    fn actions(&self) -> &'static [&'static str] {
        &["login"]
    }

    fn check(
        &self,
        action: &'static str,
        fields: &StepFields<'_>,
        problems: &mut FileProblems<'_>,
    ) -> Option<Step> {
        let password = fields.required::<String>(problems, action)?;
        let path = fields.key_path(action);
        let password = match password.get_ref().as_str() {
            GIVEN => LoginPassword::Given,
            "" => {
                problems.at(
                    &password.span(),
                    path,
                    "expected \"given\" or the password to try, found an empty password",
                );
                return None;
            }
            literal if password_fits(problems, &path, &password) => {
                LoginPassword::Literal(literal.to_string())
            }
            _ => return None,
        };
        Some(Step::new(&Login, LoginStep { password }))
    }

    fn run<'a>(
        &'a self,
        case: &'a mut Case<'_, '_>,
        number: usize,
        step: &'a Step,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(LoginStep { password }) = step.what::<LoginStep>() else {
                return Err(case.not_this_kind(self, step));
            };
            let (shown, password) = match password {
                LoginPassword::Given => (
                    "the given password".to_string(),
                    case.given_password().to_string(),
                ),
                LoginPassword::Literal(p) => (format!("admin/{p}"), p.clone()),
            };
            let web = phone_web(&case.rig().bench);
            let timeout = case.timeout(LOGIN_TIMEOUT_S);
            let settle = case.scaled(APPLY_CONFIG_S).max(APPLY_CONFIG_FLOOR);
            if let Some(since) = case.config_unsettled_since() {
                let left = (since + settle).saturating_duration_since(tokio::time::Instant::now());
                case.sleep(left).await?;
            }
            let outcome = case
                .until_cancelled(web.login("admin", &password, timeout))
                .await?;
            let result = match outcome {
                Ok(LoginOutcome::Accepted) => "accepted".to_string(),
                Ok(LoginOutcome::Refused) => "refused".to_string(),
                Err(e) => format!("failed: {e}"),
            };
            case.action(format!("{number}. web login with {shown}: {result}"));
            Ok(())
        })
    }

    fn toml(&self, step: &Step) -> Option<Vec<(&'static str, String)>> {
        let LoginStep { password } = step.what::<LoginStep>()?;
        let word = match password {
            LoginPassword::Given => GIVEN,
            LoginPassword::Literal(p) => p,
        };
        Some(vec![("login", toml_string(word))])
    }

    fn command(&self) -> &'static str {
        "check"
    }

    fn usage(&self) -> &'static str {
        "check login admin|given|PASSWORD"
    }

    fn about(&self) -> String {
        "the web UI login as admin".into()
    }

    fn parse(&self, args: &[&str]) -> Result<Step, CommandError> {
        let ("login", rest) = first("check", args, "`login` and a password")? else {
            return Err(bad("check", args[0], "login"));
        };
        let [password] = exactly("check login", rest, "admin, given or a password")?;
        Ok(Step::new(
            &Login,
            LoginStep {
                password: match password {
                    GIVEN => LoginPassword::Given,
                    literal => LoginPassword::Literal(literal.to_string()),
                },
            },
        ))
    }
}
