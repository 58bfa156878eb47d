import { defineConfig } from '@playwright/test';

// One code-server on 2 cores: one worker. Chromium is Debian's (Playwright downloads none).
export default defineConfig({
  testDir: './specs',
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  reporter: 'list',
  outputDir: '../../test-artifacts/playwright',
  use: {
    viewport: { width: 1400, height: 900 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  // The core-file spec runs in a worker (so a code-server and workbench) of its own: after the
  // live-session specs its launch-configured core session did not come up within the hook's time.
  projects: [
    { name: 'live', testIgnore: /5-core\.spec\.ts$/ },
    { name: 'core', testMatch: /5-core\.spec\.ts$/ },
  ],
});
