# One image for every locus process; the command picks which (`node bin/locus.js <process>`).
# The build stage compiles the TypeScript; the image runs the compiled dist/ (bin/locus.js uses it
# because dist/.built is newer than every source it holds), without tsx's loader in each process.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY test ./test
COPY testkit ./testkit
COPY bench ./bench
COPY examples ./examples
RUN node bin/locus.js build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY migrations ./migrations
COPY procedures ./procedures
COPY grants ./grants
COPY --from=build /app/dist ./dist
ENTRYPOINT ["node", "bin/locus.js"]
