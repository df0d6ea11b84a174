#!/usr/bin/env bash
# tests/deploy/deploying_test.sh — docs/DEPLOYING.md followed as written, for
# every deployment path (automake runs it from `make check`).
#
# The commands are not copied here: each code block of docs/DEPLOYING.md
# marked `<!-- deploy-test: NAME -->` is read from the document and run,
# with only these rewrites, into a Debian-like tree ("the host") in a temp
# dir:
#   /etc/attempts /etc/nginx /etc/apache2 /etc/systemd/system /usr/libexec/attempts
#   /usr/share/attempts /var/lib/attempts /run/attempts /root/attempts-jwt-secret
#                        -> the same paths under HOST/fs
#                        (in the blocks and in the installed examples)
#   http://localhost/    -> http://127.0.0.1:PORT/ (a free loopback port)
#   host=localhost dbname=attempts user=attempts password=SECRET
#                        -> a private PostgreSQL cluster, one database per path
# and with these commands standing in for the host's (shell functions):
#   sudo CMD             runs CMD (we are root); sudo -u U: runuser -u U
#   sudoedit             nothing (an optional manual edit)
#   apt-get install      checks that the packages are installed
#   a2enmod, a2enconf    symlinks in HOST/fs/etc/apache2/*-enabled, to
#                        /etc/apache2/mods-available (read, never changed)
#   apache2ctl configtest, systemctl reload|restart apache2
#                        a private apache2 -f HOST/fs/etc/apache2/apache2.conf
#                        (Debian's layout: the modules a fresh Debian 12 has
#                        enabled after installing apache2 and
#                        libapache2-mod-fcgid, mod_fcgid's AddHandler
#                        included), running before the path starts, as on a
#                        host where the package started it
#   nginx -t, systemctl reload nginx
#                        a private nginx -c HOST/fs/etc/nginx/nginx.conf
#                        (like Debian's: user www-data, conf.d/*.conf in
#                        http {}, one server {} into which the test pastes
#                        the block of 1.6, as the document says to)
#   systemctl enable --now attempts-workers, systemctl status
#                        the unit as systemd would run it, read from the
#                        installed file: User=/Group= (setpriv), Environment=,
#                        EnvironmentFile=, RuntimeDirectory=, StateDirectory=
#                        and their modes, UMask=, ExecStartPre=, ExecStart=
#                        (systemd is not PID 1 here); the unit file itself is
#                        checked with `systemd-analyze verify`
#
# The paths:
#   nginx-systemd    4.3 4.4, 1.3 (env, systemd), 1.4-1.6, 1.8, 4.6
#   nginx-nosystemd  4.3 4.4, 1.3 (env, without systemd), 1.4-1.6, 1.8, 4.6
#   fcgid            4.3 4.4, 2.2 2.3, 4.6
#   cgi              4.3 4.4, 3.1 (mod_cgid, with mod_fcgid enabled), 4.6
# After 4.6 each path also uploads and downloads a file as the student of
# 4.6 and checks who owns what (workers as www-data, the socket
# srw-rw---- www-data, the store not readable by others); then stops what
# it started and checks that nothing of the host is left running.
#
# Not exercised: 4.1's build (a staged `make install DESTDIR=... prefix=/usr`
# from this build tree stands in; the installed unit is checked for
# untouched comments and no placeholder left), 4.2 (the roles and the
# database: a private cluster with trust authentication, so the passwords
# of the conninfo are not checked), 1.7 (same-filesystem body files: the
# test's tree is on one filesystem anyway), the real systemd (no PID 1:
# Restart=, the hardening options and journalctl are not run), 3.2 (shared
# hosting over scp/ssh; its .htaccess runs in tests/deploy/apache_test.sh),
# and the real /etc: nothing outside the temp dir is written.
#
# Prints one line per check and `deploying: N passed, N failed`; exits 1 on
# any failure, 77 when something is missing (under CI=true: 1), or when not
# root. DEPLOY_TEST_PATHS narrows the paths; DEPLOY_TEST_KEEP=1 keeps the
# temp dir; DEPLOY_TEST_APACHE_LOGLEVEL sets Apache's LogLevel (warn; e.g.
# "warn fcgid:info" shows mod_fcgid's spawns). DEPLOY_TEST_SIZING=1 also measures mod_fcgid (wrk, GET state,
# after a warm-up) at DEPLOY_TEST_SIZING_CONC clients (default "4 8 12 14 16
# 20 24") for each DEPLOY_TEST_SIZING_PROCESSES (default: the document's
# value): figures only, no check depends on them.
#
# The checks are single-quoted expressions run by `check ... eval`:
# shellcheck disable=SC2016,SC2317,SC2034,SC1091
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
doc=$srcdir/docs/DEPLOYING.md

APACHE=${APACHE:-/usr/sbin/apache2}
NGINX=${NGINX:-/usr/sbin/nginx}
AVAIL=/etc/apache2/mods-available

# Missing tools skip the test (77), but under CI (CI=true), which installs
# everything, they fail it.
stack_ci_strict=1

((EUID == 0)) || skip "not root: the documented commands install files owned by www-data and start workers as www-data"
[[ -x $APACHE ]] || skip "$APACHE not installed (Debian: apache2)"
[[ -f $AVAIL/fcgid.load && -f $AVAIL/cgid.load ]] || skip "$AVAIL lacks fcgid or cgid (Debian: apache2, libapache2-mod-fcgid)"
[[ -x $NGINX ]] || skip "$NGINX not installed (Debian: nginx-light)"
for t in spawn-fcgi multiwatch curl jq setpriv runuser systemd-analyze make; do
	have_tool "$t" || skip "$t not installed"
done
id www-data >/dev/null 2>&1 || skip "no user www-data"
id postgres >/dev/null 2>&1 || skip "no user postgres to run PostgreSQL"
[[ -f $builddir/Makefile && -x $builddir/cgi-bin/attempts.fcgi ]] || {
	echo "ERROR: $builddir is not a configured and built tree"
	exit 99
}
export PATH=$PATH:/usr/sbin:/sbin
stack_isolate_env
HOSTS=()

# Prints the pids of live processes (not this shell) whose command line or
# environment names $1.
pids_naming() {
	local f p
	for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
		p=${f#/proc/}
		p=${p%%/*}
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		grep -qaF -- "$1" "$f" 2>/dev/null && alive "$p" && echo "$p"
	done | sort -u
}

# The exit trap's first step: every host stopped, and what of it is left.
stop_hosts() {
	local h p
	for h in "${HOSTS[@]}"; do
		stop_host "$h" >/dev/null 2>&1
		for p in $(pids_naming "$h/"); do
			kill -KILL "$p" 2>/dev/null
		done
	done
}
stack_exit_hook=stop_hosts
stack_pg_scratch deploying 57300 DEPLOY_TEST_KEEP
T=$dir

# ------------------------------------------------------------ the document

# Prints the code block that follows the line `<!-- deploy-test: $1 -->`.
block() {
	awk -v name="$1" '
		$0 == "<!-- deploy-test: " name " -->" { want = 1; next }
		want == 1 && /^```/ { want = 2; next }
		want == 2 && /^```/ { exit }
		want == 2 { print }
	' "$doc"
}

# Prints stdin with the host's paths, URL and database put in (see the head).
rewrite() {
	local s
	s=$(cat)
	s=${s//\/usr\/libexec\/attempts/$FS/usr/libexec/attempts}
	s=${s//\/usr\/share\/attempts/$FS/usr/share/attempts}
	s=${s//\/etc\/attempts/$FS/etc/attempts}
	s=${s//\/etc\/nginx/$FS/etc/nginx}
	s=${s//\/etc\/apache2/$FS/etc/apache2}
	s=${s//\/etc\/systemd\/system/$FS/etc/systemd/system}
	s=${s//\/var\/lib\/attempts/$FS/var/lib/attempts}
	s=${s//\/run\/attempts/$FS/run/attempts}
	s=${s//\/root\/attempts-jwt-secret/$FS/root/attempts-jwt-secret}
	s=${s//http:\/\/localhost\//http://127.0.0.1:$PORT/}
	s=${s//host=localhost dbname=attempts user=attempts password=SECRET/$DB}
	printf '%s\n' "$s"
}

# ------------------------------------------------------------ the host's commands

sudo() {
	local u=''
	while [[ ${1:-} == -* ]]; do
		case $1 in
		-u)
			u=$2
			shift 2
			;;
		*) shift ;;
		esac
	done
	# The commands of this script that stand in for the host's run as they
	# are; a real program gets sudo's reset environment, not ours.
	if declare -F "$1" >/dev/null; then
		"$@"
	elif [[ -n $u ]]; then
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME="$(getent passwd "$u" | cut -d: -f6)" USER="$u" LOGNAME="$u" runuser -u "$u" -- "$@"
	else
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root USER=root LOGNAME=root "$@"
	fi
}
sudoedit() { echo "(deploying_test: sudoedit $* left out)"; }
apt-get() {
	local p rc=0
	[[ ${1:-} == install ]] || {
		echo "apt-get $*: not emulated" >&2
		return 1
	}
	shift
	for p in "$@"; do
		[[ $p == -* ]] && continue
		if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
			echo "apt-get: $p is not installed on this machine" >&2
			rc=1
		fi
	done
	return "$rc"
}
a2enmod() {
	local m f
	for m in "$@"; do
		[[ -f $AVAIL/$m.load ]] || {
			echo "a2enmod: no module $m" >&2
			return 1
		}
		for f in "$AVAIL/$m".load "$AVAIL/$m".conf; do
			if [[ -f $f ]]; then ln -sf "$f" "$FS/etc/apache2/mods-enabled/"; fi
		done
	done
}
a2enconf() {
	local c
	for c in "$@"; do
		[[ -f $FS/etc/apache2/conf-available/$c.conf ]] || {
			echo "a2enconf: no conf-available/$c.conf" >&2
			return 1
		}
		ln -sf "../conf-available/$c.conf" "$FS/etc/apache2/conf-enabled/$c.conf"
	done
}
apache2ctl() {
	case ${1:-} in
	configtest) "$APACHE" -f "$FS/etc/apache2/apache2.conf" -t ;;
	*)
		echo "apache2ctl $*: not emulated" >&2
		return 1
		;;
	esac
}
nginx() {
	"$NGINX" -c "$FS/etc/nginx/nginx.conf" -e "$FS/var/log/nginx/error.log" "$@"
}
systemctl() {
	case "$*" in
	daemon-reload) return 0 ;;
	"enable --now "*) unit_start "${3%.service}" ;;
	"status "*) unit_status "${2%.service}" ;;
	"reload apache2") apache_reload ;;
	"restart apache2") apache_restart ;;
	"reload nginx") nginx_reload ;;
	*)
		echo "systemctl $*: not emulated" >&2
		return 1
		;;
	esac
}

# running_pid NAME FILE: prints the pid FILE holds when it is alive; else
# says that NAME is not running (stderr) and is false.
running_pid() {
	local pid
	pid=$(read_pid "$2")
	if alive "$pid"; then
		printf '%s\n' "$pid"
		return 0
	fi
	echo "$1 is not running" >&2
	return 1
}

# The private Apache: reloads (graceful) and waits for the new generation.
apache_reload() {
	local n i
	running_pid apache2 "$FS/run/apache2/apache2.pid" >/dev/null || return 1
	n=$(grep -c 'resuming normal operations' "$FS/var/log/apache2/error.log")
	"$APACHE" -f "$FS/etc/apache2/apache2.conf" -k graceful || return 1
	for ((i = 0; i < 100; i++)); do
		(($(grep -c 'resuming normal operations' "$FS/var/log/apache2/error.log") > n)) && return 0
		sleep 0.1
	done
	echo "apache2 did not reload within 10 s" >&2
	return 1
}

# The private Apache: stopped and started again, as systemd restarts it
# (a new process: apache2 -k restart would keep the old one).
apache_restart() {
	apache_stop "$FS" && apache_start
}

# apache_stop FS: stops the private Apache of the host tree FS.
apache_stop() {
	stack_apache_stop "$1/etc/apache2/apache2.conf" "$1/run/apache2/apache2.pid"
}

# The private Apache started; true once its pid file names it (5 s at most).
apache_start() {
	"$APACHE" -f "$FS/etc/apache2/apache2.conf" -k start && wait_started 5 "$FS/run/apache2/apache2.pid"
}

# The private nginx: reloads and waits until its old workers are gone.
nginx_reload() {
	local pid old
	pid=$(running_pid nginx "$FS/run/nginx.pid") || return 1
	mapfile -t old < <(children_of "$pid")
	nginx -s reload || return 1
	wait_gone 10 "${old[@]}" || {
		echo "nginx did not reload within 10 s" >&2
		return 1
	}
}

# unit_start NAME: starts HOST/fs/etc/systemd/system/NAME.service as systemd
# would; the main pid goes to HOST/NAME.pid.
unit_start() {
	local name=$1 unit sec='' line key val user=root group='' umask=0022
	local rdirs='' rmode=0755 sdirs='' smode=0755 pre=() start='' envfile='' d
	local -A env=()
	unit=$FS/etc/systemd/system/$name.service
	[[ -f $unit ]] || {
		echo "systemctl: $unit not installed" >&2
		return 1
	}
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*(#|;|$) ]] && continue
		if [[ $line == \[*\] ]]; then
			sec=$line
			continue
		fi
		[[ $sec == '[Service]' ]] || continue
		key=${line%%=*}
		val=${line#*=}
		case $key in
		User) user=$val ;;
		Group) group=$val ;;
		Environment) env[${val%%=*}]=${val#*=} ;;
		EnvironmentFile) envfile=$val ;;
		RuntimeDirectory) rdirs=$val ;;
		RuntimeDirectoryMode) rmode=$val ;;
		StateDirectory) sdirs=$val ;;
		StateDirectoryMode) smode=$val ;;
		UMask) umask=$val ;;
		ExecStartPre) pre+=("$val") ;;
		ExecStart) start=$val ;;
		esac
	done <"$unit"
	group=${group:-$(id -gn "$user")}
	if [[ -n $envfile ]]; then
		[[ -r ${envfile#-} ]] || {
			echo "systemctl: EnvironmentFile ${envfile#-} missing" >&2
			[[ $envfile == -* ]] || return 1
		}
		while IFS= read -r line; do
			[[ $line =~ ^[[:space:]]*(#|;|$) ]] && continue
			key=${line%%=*}
			val=${line#*=}
			[[ $val == \"*\" ]] && val=${val:1:-1}
			env[$key]=$val
		done <"${envfile#-}"
	fi
	env[PATH]=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	env[USER]=$user
	env[LOGNAME]=$user
	env[HOME]=$(getent passwd "$user" | cut -d: -f6)
	for d in $rdirs; do
		install -d -o "$user" -g "$group" -m "$rmode" "$FS/run/$d" || return 1
	done
	for d in $sdirs; do
		install -d -o "$user" -g "$group" -m "$smode" "$FS/var/lib/$d" || return 1
	done
	local envs=() k cmd
	for k in "${!env[@]}"; do
		envs+=("$k=${env[$k]}")
	done
	# ${NAME} in a command line: the unit's environment.
	expand() {
		local c=$1 k
		for k in "${!env[@]}"; do
			c=${c//\$\{$k\}/${env[$k]}}
		done
		printf '%s\n' "$c"
	}
	for cmd in "${pre[@]}"; do
		read -ra words <<<"$(expand "$cmd")"
		setpriv --reuid="$user" --regid="$group" --init-groups \
			env -i "${envs[@]}" bash -c 'umask "$1"; shift; exec "$@"' _ "$umask" "${words[@]}" || {
			echo "systemctl: ExecStartPre failed: $cmd" >&2
			return 1
		}
	done
	read -ra words <<<"$(expand "$start")"
	setsid setpriv --reuid="$user" --regid="$group" --init-groups \
		env -i "${envs[@]}" bash -c 'umask "$1"; shift; exec "$@"' _ "$umask" "${words[@]}" \
		</dev/null >>"$HOST/$name.log" 2>&1 &
	echo $! >"$HOST/$name.pid"
	sleep 0.5
	alive "$!" || {
		echo "systemctl: $name exited at once:" >&2
		cat "$HOST/$name.log" >&2
		return 1
	}
}

unit_status() {
	local pid
	pid=$(read_pid "$HOST/$1.pid")
	if alive "$pid"; then
		echo "● $1.service - active (running), main pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" | head -c 60)...)"
		echo "  children: $(children_of "$pid" | paste -sd ' ')"
	else
		echo "● $1.service - inactive (dead)"
		return 3
	fi
}

# ------------------------------------------------------------ a host

# The Debian 12 layout of a host that has apache2 and libapache2-mod-fcgid
# installed (their postinst enable these modules, fcgid with its
# `AddHandler fcgid-script .fcgi`), or nginx; started as their packages
# start them.
DEBIAN_MODS=(access_compat alias auth_basic authn_core authn_file authz_core authz_host authz_user
	autoindex deflate dir env filter mime mpm_event negotiation reqtimeout setenvif status fcgid)

# new_host NAME: HOST, FS, PORT and DB for path NAME, the staged install in
# place, a database of its own.
new_host() {
	HOST=$T/$1
	FS=$HOST/fs
	HOSTS+=("$HOST")
	mkdir -p "$FS"
	chmod 755 "$HOST" "$FS"
	PORT=$(free_port $((18950 + RANDOM % 500))) || return 1
	"$(pg_bindir)/createdb" -h "$T/pg" -p "$pgport" -U postgres "attempts_$1" || return 1
	DB="host=$T/pg port=$pgport dbname=attempts_$1 user=postgres"
	cp -a "$T/stage/." "$FS/"
	# The installed examples name the host's paths: here, under $FS.
	local f
	while IFS= read -r -d '' f; do
		rewrite <"$f" >"$f.tmp" && cat "$f.tmp" >"$f" && rm -f "$f.tmp"
	done < <(find "$FS/usr/share/attempts/examples" -type f -print0)
	mkdir -p "$FS/etc/systemd/system" "$FS/run" "$FS/var/lib" "$FS/var/log" "$FS/var/www/html" "$FS/root"
	chmod 700 "$FS/root"
	echo "# $1: host tree $FS, 127.0.0.1:$PORT, database attempts_$1"
}

start_apache() {
	local m c=$FS/etc/apache2
	mkdir -p "$c/mods-enabled" "$c/conf-available" "$c/conf-enabled" "$FS/run/apache2/socks" \
		"$FS/var/log/apache2" "$FS/var/lib/apache2/fcgid/sock"
	chown www-data "$FS/var/lib/apache2/fcgid" "$FS/var/lib/apache2/fcgid/sock"
	for m in "${DEBIAN_MODS[@]}"; do
		a2enmod "$m" || return 1
	done
	cat >"$c/apache2.conf" <<EOF
# apache2.conf of the test host: Debian's, shortened, its paths under $FS
Define APACHE_RUN_DIR $FS/run/apache2
Define APACHE_LOCK_DIR $FS/run/apache2
Define APACHE_LOG_DIR $FS/var/log/apache2
ServerRoot "$c"
ServerName localhost
DefaultRuntimeDir \${APACHE_RUN_DIR}
PidFile \${APACHE_RUN_DIR}/apache2.pid
Mutex file:\${APACHE_LOCK_DIR} default
Timeout 300
KeepAlive On
User www-data
Group www-data
HostnameLookups Off
ErrorLog \${APACHE_LOG_DIR}/error.log
LogLevel ${DEPLOY_TEST_APACHE_LOGLEVEL:-warn}
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
<IfModule mod_fcgid.c>
    FcgidIPCDir $FS/var/lib/apache2/fcgid/sock
    FcgidProcessTableFile $FS/var/lib/apache2/fcgid/shm
</IfModule>
Listen 127.0.0.1:$PORT
<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all denied
</Directory>
<Directory $FS/var/www/>
    Options Indexes FollowSymLinks
    AllowOverride None
    Require all granted
</Directory>
AccessFileName .htaccess
<FilesMatch "^\.ht">
    Require all denied
</FilesMatch>
LogFormat "%h %l %u %t \"%r\" %>s %O %D" timed
IncludeOptional conf-enabled/*.conf
<VirtualHost *:$PORT>
    ServerAdmin webmaster@localhost
    DocumentRoot $FS/var/www/html
    ErrorLog \${APACHE_LOG_DIR}/error.log
    CustomLog \${APACHE_LOG_DIR}/access.log timed
</VirtualHost>
EOF
	apache_start
}

# Debian's nginx.conf, shortened; the server {} stands for the site the
# routes are added to (1.6): SERVER_LINES go in.
write_nginx_conf() {
	local d
	for d in body fastcgi proxy scgi uwsgi; do
		install -d -o www-data -m 0700 "$FS/var/lib/nginx/$d"
	done
	mkdir -p "$FS/etc/nginx/conf.d" "$FS/var/log/nginx"
	cat >"$FS/etc/nginx/nginx.conf" <<EOF
# nginx.conf of the test host: Debian's, shortened, its paths under $FS
user www-data;
worker_processes 1;
pid $FS/run/nginx.pid;
error_log $FS/var/log/nginx/error.log;
events {
    worker_connections 768;
}
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $FS/var/log/nginx/access.log;
    client_body_temp_path $FS/var/lib/nginx/body;
    fastcgi_temp_path $FS/var/lib/nginx/fastcgi;
    proxy_temp_path $FS/var/lib/nginx/proxy;
    scgi_temp_path $FS/var/lib/nginx/scgi;
    uwsgi_temp_path $FS/var/lib/nginx/uwsgi;
    include $FS/etc/nginx/conf.d/*.conf;
    server {
        listen 127.0.0.1:$PORT default_server;
        root $FS/var/www/html;
        server_name _;
        location / {
            try_files \$uri \$uri/ =404;
        }
${SERVER_LINES:-}
    }
}
EOF
}

start_nginx() {
	SERVER_LINES='' write_nginx_conf
	nginx && wait_started 5 "$FS/run/nginx.pid"
}

# Stops whatever the host HOST ($1) runs: the unit's processes (TERM to the
# main pid, as systemctl stop), the workers started without systemd, nginx,
# Apache.
stop_host() {
	local h=$1 fs=$1/fs pid
	for pid in "$(read_pid "$h/attempts-workers.pid")" "$(read_pid "$h/nosystemd.pid")"; do
		alive "$pid" && stop_tree "$pid" TERM 20
	done
	pid=$(read_pid "$fs/run/nginx.pid")
	alive "$pid" nginx && stop_tree "$pid" QUIT 10 TERM 3
	apache_stop "$fs"
	return 0
}

# ------------------------------------------------------------ running blocks

# run_block NAME [check description]: runs the document's block NAME on the
# host; its output in $HOST/NAME.out and OUT; true when it exits 0.
run_block() {
	local name=$1 text rc=0
	text=$(block "$name")
	if [[ -z $text ]]; then
		check "$P: docs/DEPLOYING.md has the block '$name'" "no <!-- deploy-test: $name --> before a code block" false
		return 1
	fi
	rewrite <<<"$text" >"$HOST/$name.sh"
	# The block's shell variables (4.6's EXAM, ATTEMPT, STUDENT) are kept.
	printf '\ndeclare -p EXAM ATTEMPT STUDENT >%q 2>/dev/null || true\n' "$HOST/$name.vars" >>"$HOST/$name.sh"
	(
		set -eo pipefail
		cd "$HOST"
		# shellcheck disable=SC1090
		. "$HOST/$name.sh"
	) >"$HOST/$name.out" 2>&1 || rc=$?
	OUT=$(cat "$HOST/$name.out")
	check "$P: the commands of '$name' succeed as written" "exit $rc: $OUT" eval '((rc == 0))'
}

# ------------------------------------------------------------ HTTP

req_code='' req_body=''
req() {
	local method=$1 url=$2
	shift 2
	req_code=$(curl -sS -m 30 -o "$HOST/body" -D "$HOST/headers" -w '%{http_code}' -X "$method" "$@" "$url" 2>&1) ||
		req_code="curl failed: $req_code"
	req_body=$(head -c 2000 "$HOST/body" | tr -d '\0')
}

# The common end: 4.6, then an upload and a download as its student, who
# owns what, then everything stopped.
try_and_stop() {
	local tok_s up sha f fmode left pid
	run_block try || return
	check "$P: 4.6's last request answers the attempt's state, in progress" "$OUT" \
		eval '[[ $OUT == *"\"status\": \"in_progress\""* || $OUT == *"\"status\":\"in_progress\""* ]]'
	EXAM='' ATTEMPT='' STUDENT=''
	# shellcheck disable=SC1090
	. "$HOST/try.vars" 2>/dev/null
	check "$P: 4.6 started an attempt with a second token of the same --sub" "EXAM=$EXAM ATTEMPT=$ATTEMPT STUDENT=$STUDENT" \
		eval '[[ $ATTEMPT =~ ^[0-9a-f-]{36}$ && $OUT == *"$ATTEMPT"* ]]'
	if [[ $P == fcgid && -n ${DEPLOY_TEST_SIZING:-} && -n $ATTEMPT ]]; then
		fcgid_sizing
	fi
	tok_s=$(ATTEMPTS_JWT_SECRET=$(cat "$FS/root/attempts-jwt-secret") \
		"$FS/usr/libexec/attempts/attempts.fcgi" token --role student --sub "${STUDENT:-x}" 2>&1)
	f=$HOST/payload.pdf
	{
		printf '%%PDF-1.4\n'
		head -c 150000 /dev/urandom
	} >"$f"
	sha=$(sha256sum "$f" | cut -d' ' -f1)
	req POST "http://127.0.0.1:$PORT/api/attempts/$ATTEMPT?action=upload&filename=a.pdf" \
		-H "Authorization: Bearer $tok_s" -H 'Content-Type: application/pdf' --data-binary @"$f"
	up=$(jq -r .upload_id <<<"$req_body" 2>/dev/null)
	check "$P: an upload by 4.6's student answers 201 with its sha256" "$req_code $req_body" \
		eval '[[ $req_code == 201 && $(jq -r .sha256 <<<"$req_body") == "$sha" ]]'
	req GET "http://127.0.0.1:$PORT/api/attempts/$ATTEMPT?action=upload&upload_id=$up" -H "Authorization: Bearer $tok_s"
	check "$P: its download answers 200 with the same bytes" "$req_code" \
		eval '[[ $req_code == 200 ]] && cmp -s "$f" "$HOST/body"'
	# Others may not read it: no o+r on the file (the workers' umask
	# 0027 under nginx), or no way in through the store (0750).
	fmode=$(stat -c '%U %A' "$FS/var/lib/attempts/uploads/$up" 2>&1)
	check "$P: the stored file belongs to www-data and others cannot read it" "$fmode, store $(stat -c %A "$FS/var/lib/attempts/uploads")" \
		eval '[[ $fmode == "www-data -rw-"??"-"??? ]] && { [[ $fmode == *--- ]] || [[ $(stat -c %A "$FS/var/lib/attempts/uploads") == d???????-? ]]; }'
	check "$P: the upload store is www-data, 0750" "$(stat -c '%U %a' "$FS/var/lib/attempts/uploads")" \
		eval '[[ $(stat -c "%U %a" "$FS/var/lib/attempts/uploads") == "www-data 750" ]]'

	stop_host "$HOST"
	left=()
	for ((i = 0; i < 50; i++)); do
		mapfile -t left < <(pids_naming "$HOST/")
		((${#left[@]} == 0)) && break
		sleep 0.2
	done
	local detail=''
	for pid in "${left[@]}"; do
		detail+="$pid($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | head -c 80)) "
	done
	check "$P: once stopped, nothing of the host is left running" "$detail" eval '((${#left[@]} == 0))'
}

# The workers' processes under multiwatch pid $1 run as www-data.
workers_are_www_data() {
	local mw=$1 kids p
	mapfile -t kids < <(children_of "$mw")
	((${#kids[@]} >= 1)) || return 1
	for p in "$mw" "${kids[@]}"; do
		[[ $(stat -c %U "/proc/$p") == www-data ]] || return 1
	done
}

# ------------------------------------------------------------ PostgreSQL, the staged install


# 4.1, but from this build tree: `make install` with the document's prefix.
if ! make -C "$builddir" install DESTDIR="$T/stage" prefix=/usr >"$T/install.log" 2>&1; then
	tail -n 30 "$T/install.log"
	echo "ERROR: make install DESTDIR=$T/stage prefix=/usr failed"
	exit 99
fi
P=install
unit=$T/stage/usr/share/attempts/examples/systemd/attempts-workers.service
check "$P: make install puts the unit with the binary's path filled in" "$(grep -n '@' "$unit" | grep -v '^[0-9]*:#')" \
	eval '[[ -f $unit ]] && ! grep -v "^[[:space:]]*#" "$unit" | grep -q "@" && grep -qx "ExecStart=.* -- /usr/libexec/attempts/attempts.fcgi" "$unit"'
check "$P: make install copies the unit's comments untouched" "$(diff <(grep '^#' "$srcdir/deploy/systemd/attempts-workers.service.in") <(grep '^#' "$unit"))" \
	eval 'diff -q <(grep "^#" "$srcdir/deploy/systemd/attempts-workers.service.in") <(grep "^#" "$unit") >/dev/null'
mkdir -p "$T/verify"
sed "s|/usr/libexec/attempts/|$T/stage/usr/libexec/attempts/|g" "$unit" >"$T/verify/attempts-workers.service"
out=$(systemd-analyze verify "$T/verify/attempts-workers.service" 2>&1)
check "$P: systemd-analyze verify finds nothing to say about the unit" "$out" eval '[[ -z $out ]]'
units_user=$(sed -n 's/^User=//p' "$unit")
check "$P: the unit, its comments and the env example name one user, www-data" \
	"User=$units_user; $(grep -n -w -e 'useradd' -e 'usermod' -e 'runuser -u [a-z-]*' -e 'User=attempts' "$unit" "$srcdir/deploy/systemd/attempts.env.example" | grep -v 'www-data')" \
	eval '[[ $units_user == www-data ]] && ! grep -qw -e useradd -e usermod -e "User=attempts" -e "runuser -u attempts" "$unit" "$srcdir/deploy/systemd/attempts.env.example"'

# ------------------------------------------------------------ the paths

# The common start of every path: 4.3 and 4.4.
db_and_secret() {
	run_block migrate || return 1
	check "$P: 4.3 applies the migrations, then answers up to date" "$OUT" \
		eval '[[ $OUT == *"applied 001_schema.sql"* && $OUT == *"applied admin.sql"* && $(tail -n 1 <<<"$OUT") == "up to date" ]]'
	run_block secret || return 1
	check "$P: 4.4 leaves a 64-hex secret, mode 0600" "$(stat -c %a "$FS/root/attempts-jwt-secret" 2>&1)" \
		eval '[[ $(stat -c %a "$FS/root/attempts-jwt-secret") == 600 && $(cat "$FS/root/attempts-jwt-secret") =~ ^[0-9a-f]{64}$ ]]'
}

# 1.4-1.6 and 1.8 after the workers.
nginx_part() {
	run_block nginx-upstream || return 1
	run_block nginx-params || return 1
	run_block nginx-routes || return 1
	SERVER_LINES=$(block nginx-server | rewrite | sed 's/^/    /')
	check "$P: docs/DEPLOYING.md has the server {} lines of 1.6" "" eval '[[ $SERVER_LINES == *"include $FS/etc/nginx/attempts.conf;"* ]]'
	write_nginx_conf
	run_block nginx-reload || return 1
	check "$P: 1.8's health check answers ok" "$OUT" eval '[[ $OUT == *"\"status\":\"ok\""* ]]'
}

path_nginx_systemd() {
	local mw
	start_nginx || return 1
	db_and_secret || return 1
	run_block workers-env || return 1
	check "$P: /etc/attempts/env is 0600 and holds the database and the secret" "$(stat -c %a "$FS/etc/attempts/env")" \
		eval '[[ $(stat -c %a "$FS/etc/attempts/env") == 600 ]] && grep -qxF "ATTEMPTS_DB=\"$DB\"" "$FS/etc/attempts/env" && grep -qx "ATTEMPTS_JWT_SECRET=$(cat "$FS/root/attempts-jwt-secret")" "$FS/etc/attempts/env"'
	run_block workers-systemd || return 1
	mw=$(read_pid "$HOST/attempts-workers.pid")
	check "$P: the unit's main process is multiwatch, with ATTEMPTS_WORKERS (2) workers" "$(children_of "$mw" | paste -sd ' ')" \
		eval 'alive "$mw" multiwatch && (($(children_of "$mw" | wc -l) == 2))'
	check "$P: multiwatch and the workers run as www-data" "" workers_are_www_data "$mw"
	check "$P: 1.3's ls shows the socket srw-rw---- www-data www-data" "$OUT" \
		eval '[[ $OUT =~ srw-rw----\ [0-9]+\ www-data\ www-data ]]'
	check "$P: /run/attempts is www-data, 0750 (RuntimeDirectory)" "$(stat -c '%U %a' "$FS/run/attempts")" \
		eval '[[ $(stat -c "%U %a" "$FS/run/attempts") == "www-data 750" ]]'
	nginx_part || return 1
	try_and_stop
}

path_nginx_nosystemd() {
	local mw text i bg p
	start_nginx || return 1
	db_and_secret || return 1
	run_block workers-env || return 1
	# The block runs in the foreground: started in the background here,
	# as an init system would.
	text=$(block workers-nosystemd | rewrite)
	check "$P: docs/DEPLOYING.md has the block 'workers-nosystemd'" "" eval '[[ -n $text ]]'
	(
		cd "$HOST"
		eval "$text"
	) </dev/null >"$HOST/workers-nosystemd.out" 2>&1 &
	bg=$!
	echo "$bg" >"$HOST/nosystemd.pid"
	for ((i = 0; i < 100; i++)); do
		[[ -S $FS/run/attempts/fcgi.sock ]] && break
		alive "$bg" || break
		sleep 0.1
	done
	# The subshell's child: sudo's bash -c, which became spawn-fcgi, then
	# multiwatch.
	mw=''
	for ((i = 0; i < 50; i++)); do
		for p in $(children_of "$bg"); do
			alive "$p" multiwatch && mw=$p
		done
		[[ -n $mw && $(children_of "$mw" | wc -l) -ge 2 ]] && break
		sleep 0.1
	done
	echo "$mw" >"$HOST/nosystemd.pid"
	check "$P: 1.3's command without systemd starts multiwatch with 2 workers" "$(cat "$HOST/workers-nosystemd.out")" \
		eval '[[ -n $mw ]] && (($(children_of "$mw" | wc -l) == 2))'
	check "$P: multiwatch and the workers run as www-data" "" workers_are_www_data "$mw"
	check "$P: the socket is srw-rw---- www-data www-data" "$(stat -c '%A %U %G' "$FS/run/attempts/fcgi.sock" 2>&1)" \
		eval '[[ $(stat -c "%A %U %G" "$FS/run/attempts/fcgi.sock") == "srw-rw---- www-data www-data" ]]'
	check "$P: /run/attempts is www-data, 0750" "$(stat -c '%U %a' "$FS/run/attempts")" \
		eval '[[ $(stat -c "%U %a" "$FS/run/attempts") == "www-data 750" ]]'
	check "$P: the workers run with umask 0027" "$(grep -i umask "/proc/$(children_of "$mw" | head -n 1)/status" 2>&1)" \
		eval '[[ $(awk "/^Umask:/ {print \$2}" "/proc/$(children_of "$mw" | head -n 1)/status") == 0027 ]]'
	nginx_part || return 1
	try_and_stop
}

# wrk at each concurrency of DEPLOY_TEST_SIZING_CONC against GET state, for
# each FcgidMaxProcesses of DEPLOY_TEST_SIZING_PROCESSES.
fcgid_sizing() {
	local conf=$FS/etc/apache2/conf-available/attempts.conf tok url procs c out p50 p99 rps n
	tok=$(ATTEMPTS_JWT_SECRET=$(cat "$FS/root/attempts-jwt-secret") \
		"$FS/usr/libexec/attempts/attempts.fcgi" token --role student --sub "$STUDENT" --ttl 3600)
	url="http://127.0.0.1:$PORT/api/attempts/$ATTEMPT?action=state"
	procs=${DEPLOY_TEST_SIZING_PROCESSES:-$(awk '/^FcgidMaxProcessesPerClass/ {print $2}' "$conf")}
	for n in $procs; do
		sed -i -E "s/^(FcgidMaxProcesses(PerClass)?[[:space:]]+)[0-9]+/\\1$n/" "$conf"
		apache_reload >/dev/null || return 1
		# Start the processes: mod_fcgid spawns them on demand, a few a second.
		wrk -t2 -c"$n" -d8s -H "Authorization: Bearer $tok" "$url" >/dev/null 2>&1
		for c in ${DEPLOY_TEST_SIZING_CONC:-4 8 12 14 16 20 24}; do
			out=$(wrk -t2 -c"$c" -d5s --latency -H "Authorization: Bearer $tok" "$url" 2>&1)
			rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
			p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
			p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
			echo "# sizing: FcgidMaxProcesses $n, $c clients: $rps req/s, p50 $p50, p99 $p99;" \
				"$(pids_naming "$FS/usr/libexec/attempts/attempts.fcgi" | wc -l) processes (load $(cut -d' ' -f1 /proc/loadavg))"
		done
	done
}

path_fcgid() {
	start_apache || return 1
	db_and_secret || return 1
	run_block fcgid-modules || return 1
	run_block fcgid-conf || return 1
	check "$P: 2.3's health check answers ok" "$OUT" eval '[[ $OUT == *"\"status\":\"ok\""* ]]'
	check "$P: Apache's attempts.conf is 0600 (it holds the secret)" "$(stat -c %a "$FS/etc/apache2/conf-available/attempts.conf")" \
		eval '[[ $(stat -c %a "$FS/etc/apache2/conf-available/attempts.conf") == 600 ]]'
	local procs
	mapfile -t procs < <(pids_naming "$FS/usr/libexec/attempts/attempts.fcgi")
	check "$P: the service runs as persistent mod_fcgid processes, as www-data" "${procs[*]}" \
		eval '((${#procs[@]} >= 1)) && [[ $(stat -c %U "/proc/${procs[0]}") == www-data ]]'
	try_and_stop
}

path_cgi() {
	start_apache || return 1
	db_and_secret || return 1
	run_block cgi-conf || return 1
	check "$P: 3.1's health check answers ok (with mod_fcgid enabled as Debian enables it)" "$OUT" \
		eval '[[ $OUT == *"\"status\":\"ok\""* ]]'
	check "$P: mod_fcgid is enabled on this host (its AddHandler for .fcgi too)" "" \
		eval '[[ -L $FS/etc/apache2/mods-enabled/fcgid.conf ]] && grep -q "AddHandler fcgid-script .fcgi" "$FS/etc/apache2/mods-enabled/fcgid.conf"'
	local procs
	sleep 0.5
	mapfile -t procs < <(pids_naming "$FS/usr/libexec/attempts/attempts.fcgi")
	check "$P: the program ran as CGI: no process of it is left between requests" "${procs[*]}" \
		eval '((${#procs[@]} == 0))'
	try_and_stop
}

for path in ${DEPLOY_TEST_PATHS:-nginx-systemd nginx-nosystemd fcgid cgi}; do
	P=$path
	pass0=$n_pass fail0=$n_fail
	if ! new_host "$path"; then
		check "$path: a host tree, a port and a database" "" false
		continue
	fi
	case $path in
	nginx-systemd) path_nginx_systemd ;;
	nginx-nosystemd) path_nginx_nosystemd ;;
	fcgid) path_fcgid ;;
	cgi) path_cgi ;;
	*) check "DEPLOY_TEST_PATHS names known paths" "unknown path '$path'" false ;;
	esac
	rc=$?
	if ((rc != 0 && n_fail == fail0)); then
		check "$path: the host's web server starts" "$(tail -n 5 "$FS"/var/log/*/error.log 2>/dev/null)" false
	fi
	if ((n_fail > fail0)); then
		for f in "$FS"/var/log/*/error.log "$HOST"/*.log; do
			[[ -s $f ]] || continue
			echo "# --- tail of $f"
			tail -n 15 "$f" | sed 's/^/# /'
		done
	fi
	stop_host "$HOST"
	echo "# $path: $((n_pass - pass0)) passed, $((n_fail - fail0)) failed"
done

summary deploying
((n_fail == 0))
