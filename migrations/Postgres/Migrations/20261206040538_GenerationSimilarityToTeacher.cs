using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class GenerationSimilarityToTeacher : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<double>(
                name: "SimilarityToTeacher",
                table: "GenerationImages",
                type: "double precision",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "SimilarityToTeacher",
                table: "GenerationImages");
        }
    }
}
