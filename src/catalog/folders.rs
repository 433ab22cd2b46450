//! Folders: the `/`-separated path a shortcut is filed under (`Billing/Refunds`), its rules,
//! the folder filter of a listing, and the folder tree with its counts.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A folder path has at most this many segments.
pub const MAX_FOLDER_DEPTH: usize = 8;
/// A folder path is at most this many characters.
pub const MAX_FOLDER_CHARS: usize = 256;
/// ListFolders returns at most this many folders.
pub const MAX_FOLDERS_LISTED: usize = 10_000;

/// A folder path as written: empty (no folder), or 1 to [`MAX_FOLDER_DEPTH`] segments
/// separated by `/`, each non-empty and without surrounding white space.
pub fn path(field: &str, value: &str) -> Result<String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.chars().nth(MAX_FOLDER_CHARS).is_some() {
        return Err(Error::invalid(
            field,
            format!("is longer than {MAX_FOLDER_CHARS} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    if value.starts_with('/') || value.ends_with('/') {
        return Err(Error::invalid(
            field,
            "must not start or end with `/` (write `Billing/Refunds`)",
        ));
    }
    let segments: Vec<&str> = value.split('/').collect();
    if segments.len() > MAX_FOLDER_DEPTH {
        return Err(Error::invalid(
            field,
            format!(
                "has {} levels; at most {MAX_FOLDER_DEPTH} are allowed",
                segments.len()
            ),
        ));
    }
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            return Err(Error::invalid(
                field,
                format!("level {} is empty (`//`)", i + 1),
            ));
        }
        if segment.trim() != *segment {
            return Err(Error::invalid(
                field,
                format!(
                    "level {} ({}) starts or ends with white space",
                    i + 1,
                    crate::error::quote(segment)
                ),
            ));
        }
    }
    Ok(value.to_string())
}

/// Which folders a listing keeps.
#[derive(Debug, Clone, Default)]
pub struct FolderFilter {
    /// A valid, non-empty folder path.
    pub folder: String,
    pub include_subfolders: bool,
}

impl FolderFilter {
    pub fn matches(&self, folder: &str) -> bool {
        match folder.strip_prefix(self.folder.as_str()) {
            Some("") => true,
            Some(rest) => self.include_subfolders && rest.starts_with('/'),
            None => false,
        }
    }
}

/// One folder of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderCount {
    pub path: String,
    pub depth: u32,
    /// Shortcuts filed directly in it.
    pub direct: u32,
    /// Shortcuts in it or any folder below.
    pub total: u32,
}

impl FolderCount {
    /// The last segment.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// The folder tree of some shortcuts' folders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderTree {
    /// Ordered by path, a parent before its children; at most [`MAX_FOLDERS_LISTED`].
    pub folders: Vec<FolderCount>,
    /// Shortcuts in no folder.
    pub unfiled: u32,
    pub truncated: bool,
}

/// Counts the folders of `folders` (one item per shortcut, empty for none) and of every
/// folder above them.
pub fn tree<'a>(folders: impl IntoIterator<Item = &'a str>) -> FolderTree {
    let mut counts: BTreeMap<&'a str, (u32, u32)> = BTreeMap::new();
    let mut unfiled = 0u32;
    for folder in folders {
        if folder.is_empty() {
            unfiled += 1;
            continue;
        }
        counts.entry(folder).or_default().0 += 1;
        // Every ancestor, the folder itself included, counts it in its total.
        let mut end = folder.len();
        loop {
            counts.entry(&folder[..end]).or_default().1 += 1;
            match folder[..end].rfind('/') {
                Some(i) => end = i,
                None => break,
            }
        }
    }
    // A path sorts before its children only with `/` lowest: `A/B` must precede `A B`.
    let mut folders: Vec<FolderCount> = counts
        .into_iter()
        .map(|(path, (direct, total))| FolderCount {
            depth: path.split('/').count() as u32,
            path: path.to_string(),
            direct,
            total,
        })
        .collect();
    folders.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    let truncated = folders.len() > MAX_FOLDERS_LISTED;
    folders.truncate(MAX_FOLDERS_LISTED);
    FolderTree {
        folders,
        unfiled,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_and_named() {
        assert_eq!(
            path("folder", "Billing/Refunds").unwrap(),
            "Billing/Refunds"
        );
        assert_eq!(path("folder", "").unwrap(), "");
        for bad in [
            "/Billing",
            "Billing/",
            "Billing//Refunds",
            "Billing/ Refunds",
            "a/b/c/d/e/f/g/h/i",
            "tab\there",
        ] {
            let err = path("folder", bad).unwrap_err().to_string();
            assert!(err.starts_with("folder"), "{bad}: {err}");
        }
        let long = "a".repeat(MAX_FOLDER_CHARS + 1);
        assert!(path("folder", &long).is_err());
    }

    #[test]
    fn a_filter_keeps_the_folder_and_optionally_what_is_below() {
        let only = FolderFilter {
            folder: "Billing".into(),
            include_subfolders: false,
        };
        let below = FolderFilter {
            include_subfolders: true,
            ..only.clone()
        };
        assert!(only.matches("Billing") && below.matches("Billing"));
        assert!(!only.matches("Billing/Refunds") && below.matches("Billing/Refunds"));
        assert!(!below.matches("Billings") && !below.matches("") && !below.matches("Sales"));
    }

    #[test]
    fn the_tree_counts_direct_and_total_and_lists_parents_first() {
        let t = tree(["A/B", "A/B", "A", "A B", "", "A/B/C"]);
        let rows: Vec<(&str, u32, u32, u32)> = t
            .folders
            .iter()
            .map(|f| (f.path.as_str(), f.depth, f.direct, f.total))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("A", 1, 1, 4),
                ("A/B", 2, 2, 3),
                ("A/B/C", 3, 1, 1),
                ("A B", 1, 1, 1)
            ]
        );
        assert_eq!(t.unfiled, 1);
        assert_eq!(t.folders[1].name(), "B");
    }
}
