#!/usr/bin/env python3
"""Draws publish→deliver p99 against the number of subscribers, Herald and Nchan, as SVG.

Reads lines "subscribers rate herald_p99 nchan_p99" (nchan may be missing) on stdin and
plots the points measured at 10 notifications/s; writes the SVG to stdout. No libraries.
"""
import sys

points = []
for line in sys.stdin:
    parts = line.split()
    if len(parts) >= 3 and parts[1] == "10":
        nchan = float(parts[3]) if len(parts) > 3 and parts[3] not in ("", "-") else None
        points.append((int(parts[0]), float(parts[2]), nchan))
points.sort()
width, height, left, bottom, top, right = 640, 400, 70, 50, 30, 20
xs = [p[0] for p in points] or [1]
ys = [v for p in points for v in (p[1], p[2]) if v is not None] or [1]
x_max, y_max = max(xs) * 1.05, max(ys) * 1.15

def x(v):
    return left + (width - left - right) * v / x_max

def y(v):
    return height - bottom - (height - bottom - top) * v / y_max

out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
       f'<rect width="{width}" height="{height}" fill="white"/>',
       f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">publish→deliver p99 (ms) by SSE subscribers, 10 notifications/s</text>',
       f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
       f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>']
for i in range(6):
    value = y_max * i / 5
    out.append(f'<text x="{left - 6}" y="{y(value) + 4}" text-anchor="end">{value:.0f}</text>')
    out.append(f'<line x1="{left}" y1="{y(value)}" x2="{width - right}" y2="{y(value)}" stroke="#eee"/>')
for subscribers, _, _ in points:
    out.append(f'<text x="{x(subscribers)}" y="{height - bottom + 16}" text-anchor="middle">{subscribers}</text>')
out.append(f'<text x="{(width + left) / 2}" y="{height - 10}" text-anchor="middle">subscribers</text>')
for index, (name, color) in enumerate((("Herald", "#c0392b"), ("Nchan", "#2c7fb8"))):
    series = [(p[0], p[1 + index]) for p in points if p[1 + index] is not None]
    if series:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(s):.1f},{y(v):.1f}" for i, (s, v) in enumerate(series))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for s, v in series:
            out.append(f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="3" fill="{color}"/>')
    out.append(f'<rect x="{width - right - 110}" y="{top + 8 + index * 18}" width="12" height="12" fill="{color}"/>')
    out.append(f'<text x="{width - right - 92}" y="{top + 18 + index * 18}">{name}</text>')
out.append('</svg>')
print("\n".join(out))
