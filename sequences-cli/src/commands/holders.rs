//! Who holds or waits for a sequence right now. Never waits itself: on
//! SQLite the connection's busy timeout is zero, so a held write lock shows
//! at once.

use sea_orm::DatabaseConnection;
use sequences_core::lock_holders;

use super::Outcome;
use crate::args::HoldersArgs;
use crate::error::CliError;
use crate::output::{Holders, Out};

pub async fn holders(
    db: &DatabaseConnection,
    out: &Out,
    args: HoldersArgs,
) -> Result<Outcome, CliError> {
    let holders = lock_holders(db, args.name.as_deref())
        .await
        .map_err(|e| CliError::database(&e))?;
    out.print(&Holders(&holders));
    Ok(Outcome::Done)
}
