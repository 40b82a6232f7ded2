//! File name patterns for `file_sd_configs`: `*`, `?` and `[...]` classes, matched against one
//! path component, as Go's `filepath.Match` does.

/// True when `name` matches `pattern` in full. `*` never matches `/`. A malformed class
/// (`[` without `]`) matches nothing, which is safer than matching everything.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    // Iterative matching with one backtrack point for the most recent `*`, which keeps the
    // work linear-ish and free of recursion depth limits on hostile patterns.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') if n[ni] != '/' => {
                pi += 1;
                ni += 1;
                continue;
            }
            Some('[') => {
                if let Some((ok, len)) = class(&p[pi..], n[ni]) {
                    if ok {
                        pi += len;
                        ni += 1;
                        continue;
                    }
                } else {
                    return false;
                }
            }
            Some('\\') if p.get(pi + 1) == Some(&n[ni]) => {
                pi += 2;
                ni += 1;
                continue;
            }
            Some(c) if *c == n[ni] && !matches!(c, '*' | '?' | '[' | '\\') => {
                pi += 1;
                ni += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) if n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `p[0] == '['`; returns (matched, class length),
/// or `None` when the class is not closed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('^' | '!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        i += 1;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|h| *h != ']') {
            let hi = *p.get(i + 1)?;
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 2;
        } else if lo == c {
            matched = true;
        }
    }
    Some((matched != negate, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_filepath_match() {
        let cases = [
            ("*.json", "a.json", true),
            ("*.json", "a.yml", false),
            ("*.json", ".json", true),
            ("t?.yml", "t1.yml", true),
            ("t?.yml", "t12.yml", false),
            ("[ab]*.yaml", "b-x.yaml", true),
            ("[!ab]*.yaml", "b-x.yaml", false),
            ("[a-c]x", "bx", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("[abc", "a", false),
            ("*", "a/b", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n), want, "{p} ~ {n}");
        }
    }
}
