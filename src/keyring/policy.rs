//! Key rotation policies: how often each key should be rotated (`warden.key_policy`,
//! shown as `age`, `rotate_every` and `rotation_due` in `warden.keys`), and the function
//! a scheduler (pg_cron) calls to rotate the keys that are due.

use pgrx::prelude::*;

use super::{add_version, generated_secret, validate_key_name, Material};
use crate::audit::chain::{append_own, OwnEvent};
use crate::error::{SqlResult, WardenError};
use crate::privilege::{as_extension_owner, require_admin};

/// `warden.set_key_policy(name, rotate_every)`: how often a key should be rotated;
/// NULL removes the policy. `warden.keys` shows `rotation_due`.
#[pg_extern(volatile, parallel_unsafe)]
fn set_key_policy(name: &str, rotate_every: Option<pgrx::datum::Interval>) -> SqlResult<()> {
    require_admin("set key policies")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.set_key_policy()".as_ptr()) };
    validate_key_name(name)?;
    let outcome = as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let exists = client
                .select(
                    "SELECT pg_catalog.count(*) FROM warden.key_store WHERE name OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                    None,
                    &[name.into()],
                )?
                .first()
                .get_one::<i64>()?
                .unwrap_or(0)
                > 0;
            if !exists {
                return Ok::<_, pgrx::spi::SpiError>(Err(WardenError::UnknownKey(name.to_owned())));
            }
            match rotate_every {
                None => {
                    client.update(
                        "DELETE FROM warden.key_policy WHERE name OPERATOR(pg_catalog.=) $1::pg_catalog.text",
                        None,
                        &[name.into()],
                    )?;
                }
                Some(every) => {
                    let positive = client
                        .select(
                            "SELECT $1::pg_catalog.interval OPERATOR(pg_catalog.>) '0'::pg_catalog.interval",
                            None,
                            &[every.into()],
                        )?
                        .first()
                        .get_one::<bool>()?
                        .unwrap_or(false);
                    if !positive {
                        return Ok(Err(WardenError::invalid("rotate_every must be a positive interval")));
                    }
                    client.update(
                        "INSERT INTO warden.key_policy (name, rotate_every) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET rotate_every = excluded.rotate_every, \
                         set_at = pg_catalog.now(), set_by = session_user",
                        None,
                        &[name.into(), every.into()],
                    )?;
                }
            }
            Ok(Ok(()))
        })
    })?;
    outcome?;
    append_own(&OwnEvent {
        event_type: "key_change",
        action: "set_key_policy",
        resource_type: "key",
        resource_id: Some(name),
        tenant: None,
        actor: None,
        details: serde_json::json!({"rotate_every": rotate_every.map(|i| i.to_string())}),
    })?;
    Ok(())
}

/// `warden.rotate_due_keys()`: rotates every key whose policy says rotation is due, with
/// generated material, and returns how many. Keys bound to environment variables are
/// skipped (a new variable must be set first) and named in a NOTICE.
#[pg_extern(volatile, parallel_unsafe)]
fn rotate_due_keys() -> SqlResult<i32> {
    require_admin("rotate keys")?;
    unsafe { pg_sys::PreventCommandIfReadOnly(c"warden.rotate_due_keys()".as_ptr()) };
    let due = as_extension_owner(|| {
        Spi::connect(|client| {
            let mut due = Vec::new();
            for row in client.select(
                "SELECT name, source FROM warden.keys WHERE active AND rotation_due ORDER BY name",
                None,
                &[],
            )? {
                due.push((row.get::<String>(1)?.unwrap_or_default(), row.get::<String>(2)?.unwrap_or_default()));
            }
            Ok::<_, pgrx::spi::SpiError>(due)
        })
    })?;
    let mut rotated = 0;
    for (name, source) in due {
        if source.starts_with("env:") {
            pgrx::notice!("key \"{name}\" is due for rotation but bound to an environment variable; rotate it with warden.rotate_key_from_env");
            continue;
        }
        add_version(&name, Material::Generated(generated_secret()?), false)?;
        rotated += 1;
    }
    Ok(rotated)
}
