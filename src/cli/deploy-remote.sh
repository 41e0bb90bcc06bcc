# deploy-remote.sh — the host side of `corral deploy` (src/cli/verbs_deploy.c,
# docs/deploy.md). corral sends it to `ssh <host> sh -s` on stdin after a
# header that sets the d_* variables below (each value quoted), exports the
# section's env and ends with `set -- <command> [argument]`.
#
#   d_path d_repo d_ref d_depth ("" or a --depth) d_keep d_who d_env
#   d_pre_setup d_post_setup d_pre_deploy d_post_deploy (shell commands)
#
# Commands: setup | prepare | activate <release> new | discard <release>
#           revert <n> | curr | prev | list | exec <command>
#
# Lines "@corral <word> ..." are for corral (it reads and hides them): step
# <name> before each step, release <name> <commit> after prepare, failed
# <step> before a non-zero exit. Everything else is the commands' output.
# The layout under $d_path (PM2's source, current and shared, plus releases):
#   source/            the git clone, reset to the deployed commit
#   releases/<stamp>/  one checkout per release (git worktree of source)
#   current            -> releases/<stamp>, switched by one rename (-> source
#                         after setup, as PM2 has it, until the first release)
#   shared/            PM2's shared folder (logs, pids), $SHARED in hooks
#   .corral-deploys    one line per switch: date release commit who what
exec 2>&1
set -u
say() { printf '@corral %s\n' "$*"; }
die() { say "failed $1"; exit 1; }
step() { say "step $1"; }
case $d_path in "~"/*) d_path=$HOME/${d_path#"~/"} ;; esac
src=$d_path/source
rels=$d_path/releases
log=$d_path/.corral-deploys
SHARED=$d_path/shared
export SHARED

# hook <name> <command> <dir>: run a hook there, or fail the step.
hook() {
	[ -n "$2" ] || return 0
	step "$1"
	(cd "$3" && sh -c "$2") || die "$1"
}

# The release `current` points to ("" when none).
current() {
	t=$(readlink "$d_path/current" 2>/dev/null) || return 0
	case $t in releases/* | "$rels"/*) basename "$t" ;; esac
}

# The releases, oldest first (their names sort by time).
releases() {
	[ -d "$rels" ] && ls -1 "$rels" | sort
}

# The commit of a release.
commit_of() {
	git -C "$rels/$1" rev-parse HEAD 2>/dev/null || echo "?"
}

# The release n before current (in release order), or fail.
before() {
	cur=$(current)
	[ -n "$cur" ] || { echo "no current release" >&2; return 1; }
	releases | awk -v cur="$cur" -v n="$1" '
		{ r[NR] = $0; if ($0 == cur) at = NR }
		END { if (at && at - n >= 1) { print r[at - n]; exit 0 } exit 1 }'
}

switch_to() {
	tmp=$d_path/.current.$$
	rm -f "$tmp"
	ln -s "releases/$1" "$tmp" && mv -T "$tmp" "$d_path/current" || {
		rm -f "$tmp"
		die switch
	}
}

prune() {
	cur=$(current)
	n=$(releases | wc -l)
	releases | while read -r r; do
		[ "$n" -gt "$d_keep" ] || break
		[ "$r" = "$cur" ] && continue
		rm -rf "${rels:?}/$r"
		n=$((n - 1))
	done
	git -C "$src" worktree prune 2>/dev/null
	return 0
}

# activate <release> <what>: post-deploy in the release, then current -> it,
# a line in the log, and the oldest releases pruned. A failed hook leaves
# current as it was (and removes the release when what is "new").
activate() {
	[ -d "$rels/$1" ] || { echo "no release $1"; die post-deploy; }
	CORRAL_RELEASE=$rels/$1
	export CORRAL_RELEASE
	if [ -n "$d_post_deploy" ]; then
		step post-deploy
		if ! (cd "$rels/$1" && sh -c "$d_post_deploy"); then
			[ "$2" = new ] && { rm -rf "${rels:?}/$1"; git -C "$src" worktree prune; }
			die post-deploy
		fi
	fi
	step switch
	switch_to "$1"
	printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" \
		"$(commit_of "$1")" "$d_who" "$2" >>"$log"
	prune
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
setup)
	step pre-setup
	mkdir -p "$d_path" || die pre-setup
	hook pre-setup "$d_pre_setup" "$d_path"
	step clone
	mkdir -p "$rels" "$SHARED/logs" "$SHARED/pids" || die clone
	if [ -d "$src/.git" ]; then
		echo "$src is already a clone"
	else
		git clone $d_depth "$d_repo" "$src" || die clone
	fi
	# As PM2 does, until the first release.
	[ -e "$d_path/current" ] || [ -L "$d_path/current" ] || ln -s source "$d_path/current" ||
		die clone
	hook post-setup "$d_post_setup" "$d_path/current"
	;;
prepare)
	[ -d "$src/.git" ] || { echo "$src is not a clone: run setup first"; die setup; }
	dir=$d_path
	[ -d "$d_path/current" ] && dir=$d_path/current
	hook pre-deploy "$d_pre_deploy" "$dir"
	step fetch
	git -C "$src" fetch $d_depth --all --tags --prune || die fetch
	step checkout
	commit=$(git -C "$src" rev-parse --verify --quiet "$d_ref^{commit}") ||
		{ echo "ref '$d_ref' does not exist in $d_repo"; die checkout; }
	git -C "$src" reset -q --hard "$commit" || die checkout
	rel=$(date -u +%Y%m%d%H%M%S)
	i=0
	base=$rel
	while [ -e "$rels/$rel" ]; do i=$((i + 1)); rel=$base-$(printf %02d $i); done
	mkdir -p "$rels" && git -C "$src" worktree add -q --detach "$rels/$rel" "$commit" ||
		die checkout
	say release "$rel" "$commit"
	;;
activate)
	activate "$1" "$2"
	;;
discard)
	[ "$1" = "$(current)" ] || rm -rf "${rels:?}/$1"
	git -C "$src" worktree prune 2>/dev/null
	;;
revert)
	rel=$(before "$1") || { echo "no release $1 before the current one"; die revert; }
	activate "$rel" "revert $1"
	;;
curr | prev)
	cur=$(current)
	[ -n "$cur" ] || { echo "no current release"; exit 1; }
	[ "$cmd" = prev ] && { cur=$(before 1) || { echo "no previous release"; exit 1; }; }
	echo "$cur $(commit_of "$cur")"
	;;
list)
	cur=$(current)
	printf '%-22s %-9s %-21s %-20s %s\n' release commit date who what
	[ -f "$log" ] && awk -F '\t' -v cur="$cur" '{
		printf "%-22s %-9s %-21s %-20s %s%s\n", $2, substr($3, 1, 8), $1, $4, $5,
		    ($2 == cur ? "  <- current" : "") }' "$log"
	;;
exec)
	cd "$d_path/current" 2>/dev/null || cd "$d_path" 2>/dev/null ||
		{ echo "no $d_path: run setup first"; exit 1; }
	sh -c "$1"
	;;
*)
	echo "unknown command '$cmd'"
	exit 2
	;;
esac
