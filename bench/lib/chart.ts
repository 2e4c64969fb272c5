import { writeFile } from 'node:fs/promises';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** Renders a Vega-Lite spec to an SVG file (headless: no canvas, no browser). */
export async function writeChartSvg(spec: TopLevelSpec, file: string): Promise<void> {
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  await writeFile(file, await view.toSVG());
  view.finalize();
}
