#!/usr/bin/env node
// The one entry point of every locus process and tool. TypeScript runs through tsx's loader, so there
// is no build step between a change and running it.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
