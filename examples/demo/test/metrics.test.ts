import t from 'tap'
import { createWarden } from '@ws-warden/core'
import { DemoMetrics } from '../src/metrics.js'
import { SECRET } from './helpers.js'

t.test('errors reported through the hooks are counted', async (t) => {
  const metrics = new DemoMetrics()
  const warden = createWarden({ tokens: { secret: SECRET }, hooks: metrics.hooks })
  t.teardown(() => warden.close())
  metrics.hooks.onError?.(new Error('store down'))
  metrics.hooks.onError?.(new Error('store down'))
  t.match(await metrics.render(warden), '\nws_warden_errors_total 2\n')
})
