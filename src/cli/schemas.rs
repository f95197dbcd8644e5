//! `kamlog schemas DIR`: writes the JSON Schemas of the events (from the catalog) and of every
//! output document (from the Rust types).

use crate::error::Error;
use crate::schemas::published;
use std::path::Path;

pub fn run(dir: &Path) -> Result<i32, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
    let all = published();
    for (name, text) in &all {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Error::Io(format!("cannot write {}: {e}", path.display())))?;
    }
    println!("wrote {} schemas to {}", all.len(), dir.display());
    Ok(0)
}
