-- The studio database as the version before the users' tables moved to StudioIdentityDbContext made it: StudioDbContext's
-- migrations up to ResultDevice (Users among them), written by that version with
-- `dotnet ef migrations script -p migrations -s migrations` (commit 8b06a0e). Read by UsersMigrationTests.
CREATE TABLE IF NOT EXISTS "__EFMigrationsHistory" (
    "MigrationId" TEXT NOT NULL CONSTRAINT "PK___EFMigrationsHistory" PRIMARY KEY,
    "ProductVersion" TEXT NOT NULL
);

BEGIN TRANSACTION;
CREATE TABLE "Runs" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Runs" PRIMARY KEY AUTOINCREMENT,
    "Name" TEXT NOT NULL,
    "State" TEXT NOT NULL,
    "ConfigYaml" TEXT NOT NULL,
    "HangfireJobId" TEXT NULL,
    "Worker" TEXT NULL,
    "Stage" INTEGER NOT NULL,
    "Step" INTEGER NOT NULL,
    "TotalSteps" INTEGER NOT NULL,
    "Error" TEXT NULL,
    "CreatedAt" TEXT NOT NULL,
    "StartedAt" TEXT NULL,
    "FinishedAt" TEXT NULL
);

CREATE INDEX "IX_Runs_State" ON "Runs" ("State");

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261125165216_Initial', '10.0.15');

COMMIT;

BEGIN TRANSACTION;
ALTER TABLE "Runs" ADD "Activity" TEXT NULL;

ALTER TABLE "Runs" ADD "ArtifactFolder" TEXT NULL;

ALTER TABLE "Runs" ADD "EtaSeconds" REAL NULL;

ALTER TABLE "Runs" ADD "ForkedFromCheckpointId" INTEGER NULL;

ALTER TABLE "Runs" ADD "ForkedFromRunId" INTEGER NULL;

ALTER TABLE "Runs" ADD "LastLoss" REAL NULL;

ALTER TABLE "Runs" ADD "Queue" TEXT NOT NULL DEFAULT '';

ALTER TABLE "Runs" ADD "ResumeCheckpointId" INTEGER NULL;

ALTER TABLE "Runs" ADD "UpdatesPerSecond" REAL NOT NULL DEFAULT 0.0;

CREATE TABLE "Checkpoints" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Checkpoints" PRIMARY KEY AUTOINCREMENT,
    "RunId" INTEGER NOT NULL,
    "Path" TEXT NOT NULL,
    "Stage" INTEGER NOT NULL,
    "Step" INTEGER NOT NULL,
    "SizeBytes" INTEGER NOT NULL,
    "CreatedAt" TEXT NOT NULL,
    CONSTRAINT "FK_Checkpoints_Runs_RunId" FOREIGN KEY ("RunId") REFERENCES "Runs" ("Id") ON DELETE CASCADE
);

CREATE TABLE "Generations" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Generations" PRIMARY KEY AUTOINCREMENT,
    "Prompt" TEXT NOT NULL,
    "Seed" INTEGER NOT NULL,
    "Steps" INTEGER NOT NULL,
    "Guidance" REAL NOT NULL,
    "Width" INTEGER NOT NULL,
    "Height" INTEGER NOT NULL,
    "TeacherModelId" INTEGER NULL,
    "State" TEXT NOT NULL,
    "HangfireJobId" TEXT NULL,
    "Worker" TEXT NULL,
    "Error" TEXT NULL,
    "CreatedAt" TEXT NOT NULL,
    "FinishedAt" TEXT NULL
);

CREATE TABLE "MetricPoints" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_MetricPoints" PRIMARY KEY AUTOINCREMENT,
    "RunId" INTEGER NOT NULL,
    "Stage" INTEGER NOT NULL,
    "Step" INTEGER NOT NULL,
    "Time" TEXT NOT NULL,
    "ElapsedSeconds" REAL NOT NULL,
    "Loss" REAL NULL,
    "LearningRate" REAL NOT NULL,
    "GradientNorm" REAL NULL,
    "UpdatesPerSecond" REAL NOT NULL,
    "PromptsPerSecond" REAL NOT NULL,
    "ProcessMemoryBytes" INTEGER NOT NULL,
    "CudaMemoryBytes" INTEGER NULL,
    "LossBySigmaBucketJson" TEXT NULL,
    "LossByCategoryJson" TEXT NULL,
    CONSTRAINT "FK_MetricPoints_Runs_RunId" FOREIGN KEY ("RunId") REFERENCES "Runs" ("Id") ON DELETE CASCADE
);

CREATE TABLE "Models" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Models" PRIMARY KEY AUTOINCREMENT,
    "Name" TEXT NOT NULL,
    "Kind" TEXT NOT NULL,
    "Folder" TEXT NOT NULL,
    "Architecture" TEXT NULL,
    "ParameterCount" INTEGER NULL,
    "DType" TEXT NULL,
    "SizeBytes" INTEGER NOT NULL,
    "ValidationErrors" TEXT NOT NULL,
    "RegisteredAt" TEXT NOT NULL,
    "CheckedAt" TEXT NOT NULL
);

CREATE TABLE "PromptSets" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_PromptSets" PRIMARY KEY AUTOINCREMENT,
    "Name" TEXT NOT NULL,
    "Description" TEXT NULL,
    "Source" TEXT NOT NULL,
    "Format" TEXT NOT NULL,
    "IsBuiltIn" INTEGER NOT NULL,
    "PromptCount" INTEGER NOT NULL,
    "SkippedEmpty" INTEGER NOT NULL,
    "SkippedTooLong" INTEGER NOT NULL,
    "BadLines" INTEGER NOT NULL,
    "ImportReport" TEXT NULL,
    "CreatedAt" TEXT NOT NULL
);

CREATE TABLE "RunEvents" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_RunEvents" PRIMARY KEY AUTOINCREMENT,
    "RunId" INTEGER NOT NULL,
    "Kind" TEXT NOT NULL,
    "Stage" INTEGER NOT NULL,
    "Step" INTEGER NOT NULL,
    "Message" TEXT NOT NULL,
    "DataJson" TEXT NULL,
    "Time" TEXT NOT NULL,
    CONSTRAINT "FK_RunEvents_Runs_RunId" FOREIGN KEY ("RunId") REFERENCES "Runs" ("Id") ON DELETE CASCADE
);

CREATE TABLE "Samples" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Samples" PRIMARY KEY AUTOINCREMENT,
    "RunId" INTEGER NOT NULL,
    "CheckpointId" INTEGER NULL,
    "Step" INTEGER NOT NULL,
    "PromptIndex" INTEGER NOT NULL,
    "Prompt" TEXT NOT NULL,
    "Seed" INTEGER NOT NULL,
    "IsTeacher" INTEGER NOT NULL,
    "PngPath" TEXT NOT NULL,
    "CreatedAt" TEXT NOT NULL,
    CONSTRAINT "FK_Samples_Runs_RunId" FOREIGN KEY ("RunId") REFERENCES "Runs" ("Id") ON DELETE CASCADE
);

CREATE TABLE "ValidationPoints" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_ValidationPoints" PRIMARY KEY AUTOINCREMENT,
    "RunId" INTEGER NOT NULL,
    "Stage" INTEGER NOT NULL,
    "Step" INTEGER NOT NULL,
    "Category" TEXT NOT NULL,
    "Time" TEXT NOT NULL,
    "VisionLoss" REAL NULL,
    "EmbeddingCosine" REAL NULL,
    CONSTRAINT "FK_ValidationPoints_Runs_RunId" FOREIGN KEY ("RunId") REFERENCES "Runs" ("Id") ON DELETE CASCADE
);

CREATE TABLE "GenerationImages" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_GenerationImages" PRIMARY KEY AUTOINCREMENT,
    "GenerationId" INTEGER NOT NULL,
    "CheckpointId" INTEGER NULL,
    "Encoder" TEXT NOT NULL,
    "PngPath" TEXT NULL,
    "Seconds" REAL NULL,
    "State" TEXT NOT NULL,
    "Error" TEXT NULL,
    CONSTRAINT "FK_GenerationImages_Generations_GenerationId" FOREIGN KEY ("GenerationId") REFERENCES "Generations" ("Id") ON DELETE CASCADE
);

CREATE TABLE "PromptRows" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_PromptRows" PRIMARY KEY AUTOINCREMENT,
    "PromptSetId" INTEGER NOT NULL,
    "LineNumber" INTEGER NOT NULL,
    "Text" TEXT NOT NULL,
    "Category" TEXT NULL,
    "SceneJson" TEXT NULL,
    CONSTRAINT "FK_PromptRows_PromptSets_PromptSetId" FOREIGN KEY ("PromptSetId") REFERENCES "PromptSets" ("Id") ON DELETE CASCADE
);

CREATE UNIQUE INDEX "IX_Checkpoints_RunId_Path" ON "Checkpoints" ("RunId", "Path");

CREATE INDEX "IX_GenerationImages_GenerationId" ON "GenerationImages" ("GenerationId");

CREATE UNIQUE INDEX "IX_MetricPoints_RunId_Stage_Step" ON "MetricPoints" ("RunId", "Stage", "Step");

CREATE INDEX "IX_MetricPoints_RunId_Step" ON "MetricPoints" ("RunId", "Step");

CREATE UNIQUE INDEX "IX_Models_Folder" ON "Models" ("Folder");

CREATE INDEX "IX_PromptRows_PromptSetId_LineNumber" ON "PromptRows" ("PromptSetId", "LineNumber");

CREATE UNIQUE INDEX "IX_PromptSets_Name" ON "PromptSets" ("Name");

CREATE INDEX "IX_RunEvents_RunId_Id" ON "RunEvents" ("RunId", "Id");

CREATE UNIQUE INDEX "IX_Samples_RunId_Step_PromptIndex_Seed_IsTeacher" ON "Samples" ("RunId", "Step", "PromptIndex", "Seed", "IsTeacher");

CREATE UNIQUE INDEX "IX_ValidationPoints_RunId_Stage_Step_Category" ON "ValidationPoints" ("RunId", "Stage", "Step", "Category");

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261125171823_StudioDomain', '10.0.15');

COMMIT;

BEGIN TRANSACTION;
ALTER TABLE "Generations" ADD "Activity" TEXT NULL;

ALTER TABLE "Generations" ADD "Progress" REAL NOT NULL DEFAULT 0.0;

ALTER TABLE "GenerationImages" ADD "DifferenceToTeacher" REAL NULL;

ALTER TABLE "GenerationImages" ADD "ModelId" INTEGER NULL;

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261125202119_GenerationProgressAndStudents', '10.0.15');

COMMIT;

BEGIN TRANSACTION;
CREATE TABLE "AspNetRoles" (
    "Id" TEXT NOT NULL CONSTRAINT "PK_AspNetRoles" PRIMARY KEY,
    "Name" TEXT NULL,
    "NormalizedName" TEXT NULL,
    "ConcurrencyStamp" TEXT NULL
);

CREATE TABLE "AspNetUsers" (
    "Id" TEXT NOT NULL CONSTRAINT "PK_AspNetUsers" PRIMARY KEY,
    "UserName" TEXT NULL,
    "NormalizedUserName" TEXT NULL,
    "Email" TEXT NULL,
    "NormalizedEmail" TEXT NULL,
    "EmailConfirmed" INTEGER NOT NULL,
    "PasswordHash" TEXT NULL,
    "SecurityStamp" TEXT NULL,
    "ConcurrencyStamp" TEXT NULL,
    "PhoneNumber" TEXT NULL,
    "PhoneNumberConfirmed" INTEGER NOT NULL,
    "TwoFactorEnabled" INTEGER NOT NULL,
    "LockoutEnd" TEXT NULL,
    "LockoutEnabled" INTEGER NOT NULL,
    "AccessFailedCount" INTEGER NOT NULL
);

CREATE TABLE "AspNetRoleClaims" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_AspNetRoleClaims" PRIMARY KEY AUTOINCREMENT,
    "RoleId" TEXT NOT NULL,
    "ClaimType" TEXT NULL,
    "ClaimValue" TEXT NULL,
    CONSTRAINT "FK_AspNetRoleClaims_AspNetRoles_RoleId" FOREIGN KEY ("RoleId") REFERENCES "AspNetRoles" ("Id") ON DELETE CASCADE
);

CREATE TABLE "AspNetUserClaims" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_AspNetUserClaims" PRIMARY KEY AUTOINCREMENT,
    "UserId" TEXT NOT NULL,
    "ClaimType" TEXT NULL,
    "ClaimValue" TEXT NULL,
    CONSTRAINT "FK_AspNetUserClaims_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE
);

CREATE TABLE "AspNetUserLogins" (
    "LoginProvider" TEXT NOT NULL,
    "ProviderKey" TEXT NOT NULL,
    "ProviderDisplayName" TEXT NULL,
    "UserId" TEXT NOT NULL,
    CONSTRAINT "PK_AspNetUserLogins" PRIMARY KEY ("LoginProvider", "ProviderKey"),
    CONSTRAINT "FK_AspNetUserLogins_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE
);

CREATE TABLE "AspNetUserRoles" (
    "UserId" TEXT NOT NULL,
    "RoleId" TEXT NOT NULL,
    CONSTRAINT "PK_AspNetUserRoles" PRIMARY KEY ("UserId", "RoleId"),
    CONSTRAINT "FK_AspNetUserRoles_AspNetRoles_RoleId" FOREIGN KEY ("RoleId") REFERENCES "AspNetRoles" ("Id") ON DELETE CASCADE,
    CONSTRAINT "FK_AspNetUserRoles_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE
);

CREATE TABLE "AspNetUserTokens" (
    "UserId" TEXT NOT NULL,
    "LoginProvider" TEXT NOT NULL,
    "Name" TEXT NOT NULL,
    "Value" TEXT NULL,
    CONSTRAINT "PK_AspNetUserTokens" PRIMARY KEY ("UserId", "LoginProvider", "Name"),
    CONSTRAINT "FK_AspNetUserTokens_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE
);

CREATE INDEX "IX_AspNetRoleClaims_RoleId" ON "AspNetRoleClaims" ("RoleId");

CREATE UNIQUE INDEX "RoleNameIndex" ON "AspNetRoles" ("NormalizedName");

CREATE INDEX "IX_AspNetUserClaims_UserId" ON "AspNetUserClaims" ("UserId");

CREATE INDEX "IX_AspNetUserLogins_UserId" ON "AspNetUserLogins" ("UserId");

CREATE INDEX "IX_AspNetUserRoles_RoleId" ON "AspNetUserRoles" ("RoleId");

CREATE INDEX "EmailIndex" ON "AspNetUsers" ("NormalizedEmail");

CREATE UNIQUE INDEX "UserNameIndex" ON "AspNetUsers" ("NormalizedUserName");

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261125205849_Users', '10.0.15');

COMMIT;

BEGIN TRANSACTION;
CREATE TABLE "Evaluations" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_Evaluations" PRIMARY KEY AUTOINCREMENT,
    "RunId" INTEGER NULL,
    "CheckpointId" INTEGER NULL,
    "Step" INTEGER NOT NULL,
    "Pipeline" TEXT NOT NULL,
    "Encoder" TEXT NOT NULL,
    "SizeLabel" TEXT NOT NULL,
    "Loss" TEXT NULL,
    "Split" TEXT NOT NULL,
    "PromptsPerCategory" INTEGER NOT NULL,
    "Seeds" INTEGER NOT NULL,
    "Steps" INTEGER NOT NULL,
    "Guidance" REAL NOT NULL,
    "State" TEXT NOT NULL,
    "HangfireJobId" TEXT NULL,
    "Worker" TEXT NULL,
    "Activity" TEXT NULL,
    "Progress" REAL NOT NULL,
    "Error" TEXT NULL,
    "EncoderParameters" INTEGER NULL,
    "EncoderLatencyMs" REAL NULL,
    "ImageQualityFrechet" REAL NULL,
    "FrechetAll" REAL NULL,
    "Semantics" REAL NULL,
    "Text" REAL NULL,
    "CategoriesJson" TEXT NULL,
    "ReportPath" TEXT NULL,
    "Seconds" REAL NULL,
    "CreatedAt" TEXT NOT NULL,
    "StartedAt" TEXT NULL,
    "FinishedAt" TEXT NULL,
    CONSTRAINT "FK_Evaluations_Runs_RunId" FOREIGN KEY ("RunId") REFERENCES "Runs" ("Id") ON DELETE CASCADE
);

CREATE INDEX "IX_Evaluations_CheckpointId" ON "Evaluations" ("CheckpointId");

CREATE INDEX "IX_Evaluations_RunId" ON "Evaluations" ("RunId");

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261125231610_Evaluations', '10.0.15');

COMMIT;

BEGIN TRANSACTION;
ALTER TABLE "Generations" ADD "Device" TEXT NULL;

ALTER TABLE "Evaluations" ADD "Device" TEXT NULL;

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261204184816_ResultDevice', '10.0.15');

COMMIT;

