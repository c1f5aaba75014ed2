#!/bin/bash
# testbed-up.sh - a real single-node Slurm (munged, slurmctld, slurmd; with
# TESTBED_ACCOUNTING=1 also MariaDB + slurmdbd) and an OpenSSH server on
# 127.0.0.1, without systemd, for the `testbed` tests.  Idempotent: what is
# already running is left alone.  Run as root.  Prints and writes
# $TESTBED_DIR/testbed.env (host, port, user, key, known_hosts).
#
# A second sshd on 127.0.0.1:$TESTBED_BASTION_PORT (2223) plays a ProxyJump
# bastion in front of the first.  Everything listens on 127.0.0.1 only.  Outside $TESTBED_DIR it touches only:
# Debian packages (installed when missing), the user $TESTBED_USER and its
# ~/.ssh/authorized_keys, /run/sshd, and /etc/slurm/slurm.conf (a symlink,
# only when that path is free or already a symlink).
# How it works and the pitfalls it avoids: README.md next to this script.
set -euo pipefail

DIR="${TESTBED_DIR:-/tmp/scripthut-testbed}"
TUSER="${TESTBED_USER:-hpctest}"
SSH_PORT="${TESTBED_SSH_PORT:-2222}"
BASTION_PORT="${TESTBED_BASTION_PORT:-2223}"
CTLD_PORT="${TESTBED_SLURMCTLD_PORT:-6817}"
SLURMD_PORT="${TESTBED_SLURMD_PORT:-6818}"
DBD_PORT="${TESTBED_SLURMDBD_PORT:-6819}"
DB_PORT="${TESTBED_MARIADB_PORT:-3307}"
ACCOUNTING="${TESTBED_ACCOUNTING:-0}"
CPUS="${TESTBED_CPUS:-2}"
HOST="$(hostname -s)"
PACKAGES="slurmctld slurmd slurm-client munge openssh-server openssh-client"
[ "$ACCOUNTING" = 1 ] && PACKAGES="$PACKAGES slurmdbd mariadb-server"

log() { echo "testbed-up: $*" >&2; }
die() { echo "testbed-up: ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

# A pid file's process is alive (a zombie is dead: the sandbox's init reaps late).
alive() {
    local pid
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    local st
    st="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [ "$st" != Z ]
}

# Waits (bounded) for a command to succeed.
wait_for() {
    local what=$1 secs=$2
    shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || die "timed out after ${secs}s waiting for $what"
        sleep 0.2
    done
}

install_packages() {
    local missing="" p
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    log "installing:$missing"
    # Package scripts must not start daemons (no systemd here).
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends $missing >"$DIR/log/apt.log" 2>&1; then
        timeout 300 apt-get update >>"$DIR/log/apt.log" 2>&1 || true
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends $missing >>"$DIR/log/apt.log" 2>&1 ||
            die "apt-get install failed (see $DIR/log/apt.log)"
    fi
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    return 0
}

mkdir -p "$DIR"/{etc,run,log,state,spool,ssh,munge}
chmod 755 "$DIR" "$DIR/etc" "$DIR/run" "$DIR/log"
chmod 700 "$DIR/ssh"
install_packages
chown slurm:slurm "$DIR/log" # slurmctld writes its logs and jobcomp.log as slurm (user made by the package)

# --- the test user ------------------------------------------------------------------
if ! id "$TUSER" >/dev/null 2>&1; then
    # '*' (not the default '!'): with UsePAM no, sshd refuses locked accounts.
    useradd -m -s /bin/bash -p '*' "$TUSER"
fi
usermod -p '*' "$TUSER" >/dev/null
THOME="$(getent passwd "$TUSER" | cut -d: -f6)"

# --- munge ---------------------------------------------------------------------------
MUNGE_SOCK="$DIR/munge/munge.socket"
chown munge:munge "$DIR/munge"
chmod 755 "$DIR/munge" # the socket dir must be searchable by all
if [ ! -s "$DIR/munge/munge.key" ]; then
    mungekey --create --keyfile="$DIR/munge/munge.key" --force
fi
chown munge:munge "$DIR/munge/munge.key"
chmod 400 "$DIR/munge/munge.key"
if ! alive "$DIR/munge/munged.pid"; then
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCK" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
        --seed-file="$DIR/munge/munged.seed" --force
    wait_for munged 10 test -S "$MUNGE_SOCK"
fi

# --- slurm.conf ------------------------------------------------------------------------
MEM_MB=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
[ "$MEM_MB" -gt 8192 ] && MEM_MB=8192
MEM_MB=$((MEM_MB * 9 / 10))
if [ "$ACCOUNTING" = 1 ]; then
    # PrologFlags=Contain: every job gets an .extern step, as on clusters
    # that use pam_slurm_adopt, so sacct shows the step rows seen there.
    ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCK
PrologFlags=Contain"
else
    ACCT="AccountingStorageType=accounting_storage/none"
fi
chown slurm:slurm "$DIR/state"
cat > "$DIR/etc/slurm.conf.new" <<EOF
ClusterName=testbed
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=2
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
EnforcePartLimits=ALL
SchedulerType=sched/backfill
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=300
KillWait=5
$ACCT
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
CONF_CHANGED=0
if ! cmp -s "$DIR/etc/slurm.conf.new" "$DIR/etc/slurm.conf"; then
    mv "$DIR/etc/slurm.conf.new" "$DIR/etc/slurm.conf"
    CONF_CHANGED=1
else
    rm -f "$DIR/etc/slurm.conf.new"
fi
chmod 644 "$DIR/etc/slurm.conf"
export SLURM_CONF="$DIR/etc/slurm.conf"
mkdir -p /etc/slurm
if [ ! -e /etc/slurm/slurm.conf ] || [ -L /etc/slurm/slurm.conf ]; then
    ln -sfn "$SLURM_CONF" /etc/slurm/slurm.conf
fi

stop_pidfile() {
    local f=$1 pid
    alive "$f" || return 0
    pid="$(cat "$f")"
    kill "$pid" 2>/dev/null || true
    local end=$((SECONDS + 15))
    while alive "$f" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    if alive "$f"; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$f"
}
if [ $CONF_CHANGED = 1 ]; then
    stop_pidfile "$DIR/run/slurmd.pid"
    stop_pidfile "$DIR/run/slurmctld.pid"
fi

# --- accounting (optional) ---------------------------------------------------------------
if [ "$ACCOUNTING" = 1 ]; then
    mkdir -p "$DIR/mysql"
    chown mysql:mysql "$DIR/mysql"
    cat > "$DIR/etc/my.cnf" <<EOF
[mariadbd]
datadir=$DIR/mysql/data
socket=$DIR/mysql/mysqld.sock
pid-file=$DIR/mysql/mysqld.pid
bind-address=127.0.0.1
port=$DB_PORT
user=mysql
skip-name-resolve
innodb_buffer_pool_size=128M
log-error=$DIR/mysql/mariadb.log
EOF
    if [ ! -d "$DIR/mysql/data/mysql" ]; then
        mariadb-install-db --defaults-file="$DIR/etc/my.cnf" --auth-root-authentication-method=socket \
            --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
    fi
    if ! alive "$DIR/mysql/mysqld.pid"; then
        setsid -f /usr/sbin/mariadbd --defaults-file="$DIR/etc/my.cnf" </dev/null >/dev/null 2>&1
        wait_for mariadb 30 mariadb --socket="$DIR/mysql/mysqld.sock" -e 'select 1'
    fi
    [ -s "$DIR/etc/dbpass" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DIR/etc/dbpass")
    DBPASS="$(cat "$DIR/etc/dbpass")"
    mariadb --socket="$DIR/mysql/mysqld.sock" <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DBPASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
    cat > "$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=slurm
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF
    chown slurm:slurm "$DIR/etc/slurmdbd.conf"
    chmod 600 "$DIR/etc/slurmdbd.conf"
    if ! alive "$DIR/run/slurmdbd.pid"; then
        slurmdbd
        wait_for slurmdbd 30 sacctmgr -n list cluster
    fi
    # Before slurmctld starts (else the first job records are lost), and
    # after the Unix user exists.
    sacctmgr -i add cluster testbed >/dev/null 2>&1 || true
    sacctmgr -i add account testbed cluster=testbed >/dev/null 2>&1 || true
    sacctmgr -i add user root,"$TUSER" account=testbed >/dev/null 2>&1 || true
fi

# --- slurmctld and slurmd ------------------------------------------------------------------
if ! alive "$DIR/run/slurmctld.pid"; then
    slurmctld -f "$SLURM_CONF"
    wait_for slurmctld 30 scontrol ping
fi
if ! alive "$DIR/run/slurmd.pid"; then
    slurmd -f "$SLURM_CONF"
fi
node_ready() {
    local st
    st="$(sinfo -h -n "$HOST" -o %t 2>/dev/null)"
    case "$st" in idle|mix|alloc|idle~) return 0 ;; *) return 1 ;; esac
}
wait_for "node $HOST to be idle" 30 node_ready

# --- sshd -------------------------------------------------------------------------------------
[ -s "$DIR/ssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh/ssh_host_ed25519_key"
[ -s "$DIR/ssh/ssh_host_bastion_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh/ssh_host_bastion_ed25519_key"
[ -s "$DIR/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C scripthut-testbed -f "$DIR/ssh/id_ed25519"
install -d -m 700 -o "$TUSER" -g "$TUSER" "$THOME/.ssh"
install -m 600 -o "$TUSER" -g "$TUSER" "$DIR/ssh/id_ed25519.pub" "$THOME/.ssh/authorized_keys"
{
    echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$DIR/ssh/ssh_host_ed25519_key.pub")"
    echo "[127.0.0.1]:$BASTION_PORT $(cut -d' ' -f1,2 "$DIR/ssh/ssh_host_bastion_ed25519_key.pub")"
} > "$DIR/ssh/known_hosts"
cat > "$DIR/etc/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $DIR/ssh/ssh_host_ed25519_key
PidFile $DIR/run/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $TUSER
UsePAM no
StrictModes yes
AllowTcpForwarding no
MaxStartups 100:30:200
MaxSessions 50
SetEnv SLURM_CONF=$SLURM_CONF
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
mkdir -p /run/sshd
chmod 755 /run/sshd
if ! alive "$DIR/run/sshd.pid"; then
    /usr/sbin/sshd -f "$DIR/etc/sshd_config" -E "$DIR/log/sshd.log"
    wait_for sshd 10 alive "$DIR/run/sshd.pid"
fi
# A second sshd as a ProxyJump bastion: same user and key, its own host key,
# forwarding allowed only to the first sshd.  LogLevel DEBUG1 makes it log
# each direct-tcpip request, which proxyjump.bats checks (the tunnel is used).
cat > "$DIR/etc/sshd_bastion_config" <<EOF
Port $BASTION_PORT
ListenAddress 127.0.0.1
HostKey $DIR/ssh/ssh_host_bastion_ed25519_key
PidFile $DIR/run/sshd-bastion.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $TUSER
UsePAM no
StrictModes yes
AllowTcpForwarding local
PermitOpen 127.0.0.1:$SSH_PORT
MaxStartups 100:30:200
LogLevel DEBUG1
EOF
if ! alive "$DIR/run/sshd-bastion.pid"; then
    /usr/sbin/sshd -f "$DIR/etc/sshd_bastion_config" -E "$DIR/log/sshd-bastion.log"
    wait_for "bastion sshd" 10 alive "$DIR/run/sshd-bastion.pid"
fi
SSH_OPTS="-p $SSH_PORT -i $DIR/ssh/id_ed25519 -o UserKnownHostsFile=$DIR/ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10"
# shellcheck disable=SC2086
wait_for "ssh + sinfo as $TUSER" 20 timeout 15 ssh $SSH_OPTS "$TUSER@127.0.0.1" sinfo

cat > "$DIR/testbed.env" <<EOF
TESTBED_DIR=$DIR
TESTBED_SSH_HOST=127.0.0.1
TESTBED_SSH_PORT=$SSH_PORT
TESTBED_SSH_USER=$TUSER
TESTBED_SSH_KEY=$DIR/ssh/id_ed25519
TESTBED_SSH_KNOWN_HOSTS=$DIR/ssh/known_hosts
TESTBED_SSH_OPTS="$SSH_OPTS"
TESTBED_BASTION_PORT=$BASTION_PORT
TESTBED_BASTION_LOG=$DIR/log/sshd-bastion.log
TESTBED_SLURM_CONF=$SLURM_CONF
TESTBED_ACCOUNTING=$ACCOUNTING
TESTBED_NODE=$HOST
EOF
cat "$DIR/testbed.env"
