# One image for every locus process; the command picks which (`node bin/locus.js <process>`).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY procedures ./procedures
COPY examples ./examples
COPY tsconfig.json ./
ENTRYPOINT ["node", "bin/locus.js"]
