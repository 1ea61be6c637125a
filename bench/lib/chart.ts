/**
 * A dependency-free SVG chart of a report: one panel of horizontal bars per figure, localpush and
 * Mosquitto next to each other, so the ratio is visible at a glance in the README or an issue.
 */
import type { Report } from './report.js';

interface Bar {
  label: string;
  value: number;
}

interface Panel {
  title: string;
  unit: string;
  bars: Bar[];
}

function panels(report: Report): Panel[] {
  const out: Panel[] = [];
  if (report.connect !== undefined) {
    const bars = report.connect.map((r) => ({
      label: `localpush ${r.transport}`,
      value: r.connectionsPerSec,
    }));
    for (const q of report.mqttConnect ?? [])
      bars.push({ label: `Mosquitto ${q.transport}`, value: q.connectionsPerSec });
    out.push({ title: 'Connections per second (higher is better)', unit: '/s', bars });
    const rss = report.connect.map((r) => ({
      label: `localpush ${r.transport}`,
      value: r.rssPerConnectionBytes / 1024,
    }));
    for (const q of report.mqttConnect ?? []) {
      if (q.rssPerConnectionBytes !== null)
        rss.push({ label: `Mosquitto ${q.transport}`, value: q.rssPerConnectionBytes / 1024 });
    }
    out.push({ title: 'Server RSS per idle connection (lower is better)', unit: ' KiB', bars: rss });
  }
  if (report.delivery !== undefined) {
    const modes = [...new Set(report.delivery.map((r) => r.mode))];
    for (const mode of modes) {
      const offered = mode === 'full' ? 'full speed' : `${mode}/s offered`;
      const rows = report.delivery.filter((r) => r.mode === mode);
      const mq = report.mqttDelivery?.filter((r) => r.mode === mode) ?? [];
      const label = (r: { store: string; transport: string }): string => `${r.store} ${r.transport}`;
      const through = rows.map((r) => ({ label: label(r), value: r.throughputPerSec }));
      const p99 = rows.map((r) => ({ label: label(r), value: r.sendToDeviceMs.p99 }));
      for (const q of mq) {
        const name = `Mosquitto ${q.transport}${q.client === 'lean' ? '' : ` ${q.client}`}`;
        through.push({ label: name, value: q.throughputPerSec });
        p99.push({ label: name, value: q.sendToDeviceMs.p99 });
      }
      out.push({
        title: `Delivered and acknowledged per second, ${offered} (higher is better)`,
        unit: '/s',
        bars: through,
      });
      out.push({ title: `Send → device p99, ${offered} (lower is better)`, unit: ' ms', bars: p99 });
    }
  }
  return out;
}

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function svgChart(report: Report): string {
  const width = 640;
  const labelWidth = 150;
  const barArea = width - labelWidth - 90;
  const rowHeight = 22;
  let y = 10;
  const parts: string[] = [];
  for (const panel of panels(report)) {
    parts.push(`<text x="10" y="${y + 14}" font-weight="bold">${escape(panel.title)}</text>`);
    y += 24;
    const max = Math.max(...panel.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 1e-9);
    for (const bar of panel.bars) {
      const value = Number.isFinite(bar.value) ? bar.value : 0;
      const w = Math.max(1, Math.round((value / max) * barArea));
      const colour = bar.label.startsWith('Mosquitto') ? '#9a9a9a' : '#2f6fb3';
      const shown =
        value >= 100 ? Math.round(value).toLocaleString('en-US') : String(Math.round(value * 10) / 10);
      parts.push(
        `<text x="10" y="${y + 15}">${escape(bar.label)}</text>`,
        `<rect x="${labelWidth}" y="${y + 3}" width="${w}" height="${rowHeight - 6}" fill="${colour}"/>`,
        `<text x="${labelWidth + w + 6}" y="${y + 15}">${shown}${escape(panel.unit)}</text>`,
      );
      y += rowHeight;
    }
    y += 12;
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="12">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`
  );
}
