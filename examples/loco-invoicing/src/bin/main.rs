use loco_invoicing::app::App;
use loco_invoicing::migration::Migrator;
use loco_rs::cli;

#[tokio::main]
async fn main() -> loco_rs::Result<()> {
    cli::main::<App, Migrator>().await
}
