// Machine description and CPU accounting for the bench (Linux /proc; degrades to nulls elsewhere).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

const read = (p) => {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
};
const run = (cmd, args, opts = {}) => {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      ...opts,
    }).trim();
  } catch {
    return null;
  }
};

export function machineInfo(repoRoot) {
  const cpuinfo = read('/proc/cpuinfo') ?? '';
  const model =
    /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const osRelease = read('/etc/os-release') ?? '';
  const pretty =
    /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? `${os.type()} ${os.release()}`;
  const gitStatus = run('git', ['status', '--porcelain', '--', 'packages/server'], {
    cwd: repoRoot,
  });
  return {
    date_utc: run('date', ['-u']) ?? new Date().toUTCString(),
    iso_date: new Date().toISOString(),
    nproc: Number(run('nproc', [])) || os.availableParallelism(),
    cpu_model: model,
    ram_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${pretty} (kernel ${os.release()}, ${os.arch()})`,
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
    git_head: run('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot }),
    server_src_dirty: gitStatus === null ? null : gitStatus.length > 0,
  };
}

const CLK_TCK = Number(run('getconf', ['CLK_TCK'])) || 100;

/** Total busy and total jiffies of all CPUs (first line of /proc/stat). */
function systemJiffies() {
  const line = read('/proc/stat')?.split('\n')[0];
  if (!line) return null;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already counted in user)
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
  return { busy: total - idle, total };
}

/** user+system CPU seconds of a process and its waited-for children. */
function processCpuSeconds(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Fields after the ")" of comm: state is field 3; utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/**
 * Starts CPU accounting for one measured run. `stop()` gives cores used (CPU-seconds per
 * wall-second) by the server child, by this load-generator process, and by everything else on
 * the machine (other processes, e.g. tests running in parallel).
 */
export function cpuMeter(serverPid) {
  const t0 = process.hrtime.bigint();
  const sys0 = systemJiffies();
  const srv0 = processCpuSeconds(serverPid);
  const me0 = process.cpuUsage();
  return {
    stop() {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const sys1 = systemJiffies();
      const srv1 = processCpuSeconds(serverPid);
      const me = process.cpuUsage(me0);
      const meCores = (me.user + me.system) / 1e6 / wall;
      const srvCores = srv0 === null || srv1 === null ? null : (srv1 - srv0) / wall;
      const sysCores = sys0 && sys1 ? (sys1.busy - sys0.busy) / CLK_TCK / wall : null;
      const other =
        sysCores === null || srvCores === null ? null : Math.max(0, sysCores - srvCores - meCores);
      const r = (x) => (x === null ? null : Math.round(x * 100) / 100);
      return {
        server_cores: r(srvCores),
        loadgen_cores: r(meCores),
        other_cores: r(other),
        machine_busy_cores: r(sysCores),
        loadavg_1m_after: r(os.loadavg()[0]),
      };
    },
  };
}
