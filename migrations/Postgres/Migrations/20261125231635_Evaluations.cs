using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Studio.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class Evaluations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "Evaluations",
                columns: table => new
                {
                    Id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    RunId = table.Column<int>(type: "integer", nullable: true),
                    CheckpointId = table.Column<int>(type: "integer", nullable: true),
                    Step = table.Column<long>(type: "bigint", nullable: false),
                    Pipeline = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: false),
                    Encoder = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    SizeLabel = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    Loss = table.Column<string>(type: "character varying(40)", maxLength: 40, nullable: true),
                    Split = table.Column<string>(type: "character varying(40)", maxLength: 40, nullable: false),
                    PromptsPerCategory = table.Column<int>(type: "integer", nullable: false),
                    Seeds = table.Column<int>(type: "integer", nullable: false),
                    Steps = table.Column<int>(type: "integer", nullable: false),
                    Guidance = table.Column<double>(type: "double precision", nullable: false),
                    State = table.Column<string>(type: "character varying(20)", maxLength: 20, nullable: false),
                    HangfireJobId = table.Column<string>(type: "text", nullable: true),
                    Worker = table.Column<string>(type: "text", nullable: true),
                    Activity = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    Progress = table.Column<double>(type: "double precision", nullable: false),
                    Error = table.Column<string>(type: "text", nullable: true),
                    EncoderParameters = table.Column<long>(type: "bigint", nullable: true),
                    EncoderLatencyMs = table.Column<double>(type: "double precision", nullable: true),
                    ImageQualityFrechet = table.Column<double>(type: "double precision", nullable: true),
                    FrechetAll = table.Column<double>(type: "double precision", nullable: true),
                    Semantics = table.Column<double>(type: "double precision", nullable: true),
                    Text = table.Column<double>(type: "double precision", nullable: true),
                    CategoriesJson = table.Column<string>(type: "text", nullable: true),
                    ReportPath = table.Column<string>(type: "text", nullable: true),
                    Seconds = table.Column<double>(type: "double precision", nullable: true),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    StartedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    FinishedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Evaluations", x => x.Id);
                    table.ForeignKey(
                        name: "FK_Evaluations_Runs_RunId",
                        column: x => x.RunId,
                        principalTable: "Runs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_Evaluations_CheckpointId",
                table: "Evaluations",
                column: "CheckpointId");

            migrationBuilder.CreateIndex(
                name: "IX_Evaluations_RunId",
                table: "Evaluations",
                column: "RunId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "Evaluations");
        }
    }
}
