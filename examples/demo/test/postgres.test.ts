import { behavesAsOneService } from './one-service.js'
import { cleanSql, POSTGRES_URL, serviceTest } from './services.js'

await serviceTest(
  'postgres',
  'WARDEN_STORE=postgres: two processes behave as one service (LISTEN/NOTIFY broker)',
  (t) =>
    behavesAsOneService(t, {
      env: { WARDEN_STORE: 'postgres', DATABASE_URL: POSTGRES_URL },
      adapters: ['koa', 'fastify'],
      clean: (prefix) => cleanSql('postgres', prefix),
    }),
)
